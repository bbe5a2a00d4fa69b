"""Library search: the passages of every processed video (transcript segments, on-screen
text, keywords, chapter titles, tags, file names) with their time codes, searchable by words
(SQLite FTS5 or PostgreSQL full-text search) and, with a model, by meaning.

``passages`` (what is indexed, from a stored output), ``query`` (a user's query parsed into
safe terms), ``index`` (:class:`SearchIndex` over a store: the tables, ``replace`` inside the
caller's transaction, ``search``).
"""
