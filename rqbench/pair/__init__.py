"""Two systems compared query by query: the detail (`detail`), its terminal and Markdown text (`render`) and
its HTML page (`html`)."""
