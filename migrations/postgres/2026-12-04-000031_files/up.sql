-- Photos and files on tickets and loans.
--
-- `file_blobs` holds each distinct content once, keyed by the SHA-256 of the bytes as stored (after photo metadata
-- was stripped): two uploads of the same bytes, even at once, make one blob (the primary key). The bytes live in the
-- file store (a directory or an S3-compatible bucket) under their hash. `file_attachments` are the uses of a blob
-- on one ticket or one loan; deleting one only marks it, so a blob is never removed while a row references it.
CREATE TABLE file_blobs (
    sha256          text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type    text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'application/pdf')),
    size_bytes      bigint NOT NULL CHECK (size_bytes > 0),
    -- The thumbnail's size (a PNG under the blob's hash in the store); none for a PDF.
    thumbnail_bytes bigint CHECK (thumbnail_bytes > 0),
    created_at      timestamptz NOT NULL,
    CHECK ((content_type = 'application/pdf') = (thumbnail_bytes IS NULL))
);

CREATE TABLE file_attachments (
    id          uuid PRIMARY KEY,
    blob_sha256 text NOT NULL REFERENCES file_blobs (sha256),
    store_id    uuid NOT NULL REFERENCES stores (id),
    ticket_id   uuid REFERENCES tickets (id),
    loan_id     uuid REFERENCES loans (id),
    stage       text NOT NULL,
    visibility  text NOT NULL CHECK (visibility IN ('internal', 'customer_visible')),
    file_name   text CHECK (length(file_name) BETWEEN 1 AND 255),
    uploaded_by uuid,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    CHECK ((ticket_id IS NULL) <> (loan_id IS NULL)),
    CHECK ((ticket_id IS NOT NULL AND stage IN ('intake', 'diagnosis', 'repair', 'quality_check'))
        OR (loan_id IS NOT NULL AND stage IN ('handover', 'return')))
);
CREATE INDEX file_attachments_ticket ON file_attachments (ticket_id, id) WHERE ticket_id IS NOT NULL;
CREATE INDEX file_attachments_loan ON file_attachments (loan_id, id) WHERE loan_id IS NOT NULL;
CREATE INDEX file_attachments_blob ON file_attachments (blob_sha256);

-- The key that signs short-lived download links: made once by the first instance, shared by all.
CREATE TABLE file_link_keys (
    id         integer PRIMARY KEY CHECK (id = 1),
    secret     text NOT NULL CHECK (length(secret) = 64),
    created_at timestamptz NOT NULL
);
