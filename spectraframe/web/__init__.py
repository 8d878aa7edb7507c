"""`spectraframe serve`: a local web page for upscaling (the optional extra `spectraframe[web]`)."""
