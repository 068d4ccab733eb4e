DROP TABLE file_link_keys;
DROP TABLE file_attachments;
DROP TABLE file_blobs;
