"""Live test support: real refusing servers, a real mitmdump, real clients.

Nothing here is a mock. ``servers`` holds HTTPS services that refuse requests the
way deployed ones do (and a proxy that answers 407); ``proxy`` runs the addon in a
``mitmdump`` subprocess and reads back the flows it saved.
"""
