"""Services: the state changes that requests, commands and the admin ask for."""
