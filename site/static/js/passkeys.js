// Keyfob's one browser module: passkey ceremonies, autofill sign-in, the Signal API, and
// copying recovery codes.
//
// The browser's passkey dialog is not part of the page, so people who cannot see it (with a
// screen reader, or a keyboard only) get words from the page itself: each passkey button is
// described by what is about to happen, a status region says the dialog is open, and the
// outcome is announced where focus then lands: the error message on failure; on success the
// next page's heading, with the news in that page's status region.

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

const b64urlToBuffer = (value) => {
  const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
};

const bufferToB64url = (buffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const creationOptions = (json) => {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: b64urlToBuffer(json.challenge),
    user: { ...json.user, id: b64urlToBuffer(json.user.id) },
    excludeCredentials: (json.excludeCredentials ?? []).map((c) => ({ ...c, id: b64urlToBuffer(c.id) })),
  };
};

const requestOptions = (json) => {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: b64urlToBuffer(json.challenge),
    allowCredentials: (json.allowCredentials ?? []).map((c) => ({ ...c, id: b64urlToBuffer(c.id) })),
  };
};

const credentialToJSON = (credential) => {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: bufferToB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = bufferToB64url(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = bufferToB64url(r.authenticatorData);
    response.signature = bufferToB64url(r.signature);
    response.userHandle = r.userHandle ? bufferToB64url(r.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: bufferToB64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
};

const followRedirect = (error) => {
  if (error?.data?.redirect) {
    window.location.assign(error.data.redirect);
    return true;
  }
  return false;
};

const post = async (url, body) => {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
    body: body === undefined ? "{}" : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.message || response.statusText), { server: true, data });
  return data;
};

// What the status region of a passkey section says (data-waiting, data-done: from the template,
// so in the page's language); an empty key clears it.
const say = (root, key) => {
  const status = root.querySelector("[data-passkey-status]");
  if (status) status.textContent = (key && root.dataset[key]) || "";
};

const showError = (root, error) => {
  const box = root.querySelector("[data-passkey-error]");
  if (!box) return;
  const cancelled = error && (error.name === "NotAllowedError" || error.name === "AbortError");
  const local = cancelled ? root.dataset.cancelled : root.dataset.failed;
  say(root, "");
  box.textContent = error.server ? error.message : local || error.message;
  box.hidden = false;
  box.tabIndex = -1;
  box.focus();
};

// A button that is busy stays focusable (a disabled one would drop focus to the page's start).
const busy = (button, value) => {
  if (value) button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
};
const isBusy = (button) => button.getAttribute("aria-disabled") === "true";

const beginCeremony = (root, button) => {
  busy(button, true);
  root.querySelector("[data-passkey-error]")?.setAttribute("hidden", "");
  say(root, "waiting");
};

// The news travels with the person to the page the site sends them to, and only there.
const ARRIVAL = "keyfob:arrival";

const succeed = (root, redirect) => {
  say(root, "done");
  if (root.dataset.done) {
    sessionStorage.setItem(ARRIVAL, JSON.stringify({ path: redirect, message: root.dataset.done }));
  }
  window.location.assign(redirect);
};

function announceArrival() {
  const stored = sessionStorage.getItem(ARRIVAL);
  if (stored === null) return;
  sessionStorage.removeItem(ARRIVAL);
  let arrival;
  try {
    arrival = JSON.parse(stored);
  } catch {
    return;
  }
  if (arrival.path !== window.location.pathname + window.location.search) return;
  const heading = document.querySelector("main h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
  const region = document.querySelector("[data-announce]");
  // Filled after load: a live region is read out when it changes, not when the page arrives.
  if (region) setTimeout(() => { region.textContent = arrival.message; }, 150);
}

const supported = () => typeof window.PublicKeyCredential === "function";

async function register(root, button) {
  if (isBusy(button)) return;
  beginCeremony(root, button);
  try {
    const options = await post("/account/passkeys/options");
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    const result = await post("/account/passkeys/verify", credentialToJSON(credential));
    succeed(root, result.redirect);
  } catch (error) {
    if (followRedirect(error)) return;
    showError(root, error);
    busy(button, false);
  }
}

async function reauthenticate(root, button) {
  if (isBusy(button)) return;
  beginCeremony(root, button);
  try {
    const next = encodeURIComponent(root.dataset.next || "/account");
    const options = await post("/account/confirm/passkey/options");
    const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
    const result = await post(`/account/confirm/passkey/verify?next=${next}`, credentialToJSON(credential));
    succeed(root, result.redirect);
  } catch (error) {
    showError(root, error);
    busy(button, false);
  }
}

// WebAuthn Signal API: keep the person's password manager in step with the site.
// Feature-detected; where a browser lacks it, nothing happens.
function signalAccepted(root) {
  const { rpId, userId, name, credentials } = root.dataset;
  const ids = credentials ? credentials.split(",") : [];
  if (PublicKeyCredential.signalAllAcceptedCredentials) {
    PublicKeyCredential.signalAllAcceptedCredentials({ rpId, userId, allAcceptedCredentialIds: ids }).catch(() => {});
  }
  if (PublicKeyCredential.signalCurrentUserDetails) {
    PublicKeyCredential.signalCurrentUserDetails({ rpId, userId, name, displayName: name }).catch(() => {});
  }
}

function signalUnknown(rpId, credentialId) {
  if (PublicKeyCredential.signalUnknownCredential && rpId && credentialId) {
    PublicKeyCredential.signalUnknownCredential({ rpId, credentialId }).catch(() => {});
  }
}

let pendingSignIn = null;

async function signIn(root, { conditional }) {
  pendingSignIn?.abort();
  const controller = new AbortController();
  pendingSignIn = controller;
  const options = await post("/login/passkey/options");
  const credential = await navigator.credentials.get({
    publicKey: requestOptions(options),
    mediation: conditional ? "conditional" : "optional",
    signal: controller.signal,
  });
  try {
    const result = await post("/login/passkey/verify", credentialToJSON(credential));
    succeed(root, result.redirect);
  } catch (error) {
    if (error?.data?.error === "unknown_credential") signalUnknown(options.rpId, credential.id);
    throw error;
  }
}

async function startAutofill(root) {
  if (!PublicKeyCredential.isConditionalMediationAvailable) return;
  if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
  try {
    await signIn(root, { conditional: true });
  } catch (error) {
    // Autofill that is dismissed, aborted or finds no passkey is not an error to show.
    if (error.server) showError(root, error);
  }
}

function copyCodes(button) {
  const list = document.querySelector("[data-recovery-codes]");
  if (!list || !navigator.clipboard) return;
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(list.innerText.trim());
    button.textContent = button.dataset.copied || button.textContent;
  });
}

function init() {
  announceArrival();
  const copy = document.querySelector("[data-copy-codes]");
  if (copy) copyCodes(copy);
  const registerRoot = document.querySelector("[data-passkey-register]");
  const loginRoot = document.querySelector("[data-passkey-login]");
  const reauthRoot = document.querySelector("[data-passkey-reauth]");
  const signalRoot = document.querySelector("[data-passkey-signal]");
  for (const root of [registerRoot, loginRoot]) {
    if (root && !supported()) root.querySelector("[data-passkey-unsupported]")?.removeAttribute("hidden");
  }
  if (!supported()) return;
  if (signalRoot) signalAccepted(signalRoot);
  if (reauthRoot) {
    const button = reauthRoot.querySelector("[data-passkey-reauth-button]");
    button.addEventListener("click", () => reauthenticate(reauthRoot, button));
  }
  if (registerRoot) {
    const button = registerRoot.querySelector("[data-passkey-register-button]");
    button.addEventListener("click", () => register(registerRoot, button));
  }
  if (loginRoot) {
    const button = loginRoot.querySelector("[data-passkey-login-button]");
    button.addEventListener("click", async () => {
      if (isBusy(button)) return;
      beginCeremony(loginRoot, button);
      try {
        await signIn(loginRoot, { conditional: false });
      } catch (error) {
        if (error.name !== "AbortError") showError(loginRoot, error);
        else say(loginRoot, "");
        busy(button, false);
      }
    });
    startAutofill(loginRoot);
  }
}

init();
