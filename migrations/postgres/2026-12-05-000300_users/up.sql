-- Staff who sign in to the console. A user's role and scope are those of the API key made with the user
-- (`key_id`): the key is never handed out (its hash is no key's hash), it is the user's identity wherever the
-- audit log and the timelines record a key as the actor, so every change made in a session names its person.
CREATE TABLE users (
    id               uuid PRIMARY KEY,
    -- Kept in lower case, so that the unique constraint is case-insensitive on both engines.
    username         text NOT NULL UNIQUE CHECK (username = lower(username) AND length(username) BETWEEN 1 AND 64),
    display_name     text NOT NULL,
    locale           text NOT NULL CHECK (locale IN ('zh-CN', 'en')),
    -- Argon2id, PHC string.
    password_hash    text NOT NULL,
    key_id           uuid NOT NULL UNIQUE REFERENCES api_keys (id),
    disabled         boolean NOT NULL DEFAULT false,
    failed_attempts  integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until     timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- Sign-in sessions, shared by every instance. Only a hash of the cookie's token is kept.
CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    token_hash    text NOT NULL UNIQUE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_secret   text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
