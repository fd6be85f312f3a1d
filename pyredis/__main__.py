from .cli import server_main

server_main()
