-- RAG ingestion progress (issue 6): how many chunks the ingestion holding an upload's lease has
-- embedded, and how many there are in all once the text is chunked (NULL until then). A claim
-- resets both; completing sets both to the chunk count.
ALTER TABLE uploads
    ADD COLUMN chunks_done  INTEGER NOT NULL DEFAULT 0 CHECK (chunks_done >= 0),
    ADD COLUMN chunks_total INTEGER CHECK (chunks_total IS NULL OR chunks_total >= 0);
