"""The design commons library: file formats, validation, units, licences, manifests, thumbnails.

Plain Python: no web or database code lives here, so a designer can use it alone
(``cosmoloc validate part.stl``) and the hub can run it in a sandboxed child process.
"""
