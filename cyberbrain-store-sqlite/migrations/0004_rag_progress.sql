-- The knowledge base (issue 6): ingestion progress, and what the vector index beside the
-- database checks itself against.

-- Chunks embedded so far by the current (or last) ingestion, and how many there are in all once
-- the text is chunked.
ALTER TABLE uploads ADD COLUMN chunks_done INTEGER NOT NULL DEFAULT 0 CHECK (chunks_done >= 0);
ALTER TABLE uploads ADD COLUMN chunks_total INTEGER CHECK (chunks_total IS NULL OR chunks_total >= 0);

-- The hnsw_rs index files beside the database record the token and generation they cover. The
-- token is random per database, so an index written for another database file is never
-- trusted; the generation grows with every change to the stored vectors, so an index that
-- claims to be newer than the database (an older copy of the file was restored) is rebuilt.
-- `deletions` counts deleted vectors, so an index recounts its dead points only after one.
CREATE TABLE vector_index_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    database_token TEXT    NOT NULL,
    generation     INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    deletions      INTEGER NOT NULL DEFAULT 0 CHECK (deletions >= 0)
);
INSERT INTO vector_index_state (id, database_token) VALUES (1, lower(hex(randomblob(16))));
