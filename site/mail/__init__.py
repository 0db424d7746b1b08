"""Mail: render in the reader's language, queue in the caller's transaction, deliver later."""
