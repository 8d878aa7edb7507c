"""File name suffixes of the videos we read: known without importing PyAV, so that code which only needs to tell a
video file from a folder of frames (finding training clips, the web page's upload filter) works without it."""

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".y4m")
