-- Staff who sign in to the console. A user's role and scope are those of the API key made with the user
-- (`key_id`): the key is never handed out (its hash is no key's hash), it is the user's identity wherever the
-- audit log and the timelines record a key as the actor, so every change made in a session names its person.
CREATE TABLE users (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    -- Kept in lower case, so that the unique constraint is case-insensitive on both engines.
    username         TEXT NOT NULL UNIQUE CHECK (username = lower(username) AND length(username) BETWEEN 1 AND 64),
    display_name     TEXT NOT NULL,
    locale           TEXT NOT NULL CHECK (locale IN ('zh-CN', 'en')),
    -- Argon2id, PHC string.
    password_hash    TEXT NOT NULL,
    key_id           BLOB NOT NULL UNIQUE REFERENCES api_keys (id),
    disabled         BOOLEAN NOT NULL DEFAULT 0,
    failed_attempts  INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until     TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- Sign-in sessions, shared by every instance. Only a hash of the cookie's token is kept.
CREATE TABLE sessions (
    id            BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_secret   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
