"""Reading and writing frames and videos."""
