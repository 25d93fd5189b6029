"""Dense retrieval pieces shared by the `dense` backend and the training code (imports torch)."""
