"""Loopback stand-ins for the sites Cratedigger talks to. Tests point the base-URL settings at them."""
