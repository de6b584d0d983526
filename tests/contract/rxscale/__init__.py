"""RxScale as its own documents describe it."""
