//! Where the bytes live, behind one interface: a directory (the default) or an S3-compatible bucket (for several
//! instances). Objects are content-addressed (`blobs/<sha256>`, `thumbnails/<sha256>`): a key names one content
//! forever, so writing it twice is harmless and two instances writing it at once write the same bytes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// An object store keyed by content.
pub trait FileStore: Send + Sync {
    /// Stores `bytes` under `key` (a no-op when the key is already there: keys name their content).
    fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> anyhow::Result<()>;
    /// The bytes under `key`, or `None` when there are none.
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// What the store is, for logs.
    fn describe(&self) -> String;
}

/// The key of a blob's bytes.
pub fn blob_key(sha256: &str) -> String {
    format!("blobs/{}/{sha256}", &sha256[..2.min(sha256.len())])
}

/// The key of a blob's thumbnail.
pub fn thumbnail_key(sha256: &str) -> String {
    format!("thumbnails/{}/{sha256}", &sha256[..2.min(sha256.len())])
}

/// Files in a directory; each written to a temporary name beside its place, synced, then renamed into place, so a
/// reader never sees half a file.
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// A store rooted at `root`; directories are made when first written to.
    pub fn open(root: &Path) -> DirStore {
        DirStore { root: root.to_owned() }
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

impl FileStore for DirStore {
    fn put(&self, key: &str, bytes: &[u8], _content_type: &str) -> anyhow::Result<()> {
        let path = self.path_of(key);
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().context("an object key has a directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let temporary = dir.join(format!(".incoming-{}", uuid::Uuid::new_v4().simple()));
        let written = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(e).with_context(|| format!("writing {}", path.display()));
        }
        Ok(())
    }

    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let path = self.path_of(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn describe(&self) -> String {
        format!("directory {}", self.root.display())
    }
}

/// How to reach an S3-compatible bucket.
#[derive(Clone)]
pub struct S3Settings {
    /// `http(s)://host:port/bucket` (path style: works with every S3-compatible server).
    pub url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("url", &self.url)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// An S3-compatible bucket: every request presigned (AWS Signature V4, valid for a minute) and sent with ureq.
pub struct S3Store {
    bucket: rusty_s3::Bucket,
    credentials: rusty_s3::Credentials,
    agent: ureq::Agent,
    url: String,
}

const SIGNED_FOR: Duration = Duration::from_secs(60);
/// Largest object read back (the upload limit is far below).
const MAX_OBJECT_BYTES: u64 = 1 << 30;

impl S3Store {
    pub fn open(settings: &S3Settings) -> anyhow::Result<S3Store> {
        let url = url::Url::parse(&settings.url).with_context(|| format!("--files-s3-url {}", settings.url))?;
        let mut segments = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect::<Vec<_>>());
        let bucket_name = match segments.as_mut() {
            Some(s) if s.len() == 1 => s[0].to_owned(),
            _ => anyhow::bail!("--files-s3-url must be http(s)://host[:port]/bucket"),
        };
        let mut endpoint = url.clone();
        endpoint.set_path("/");
        let bucket = rusty_s3::Bucket::new(endpoint, rusty_s3::UrlStyle::Path, bucket_name, settings.region.clone())
            .map_err(|e| anyhow::anyhow!("--files-s3-url: {e}"))?;
        let credentials = rusty_s3::Credentials::new(&settings.access_key_id, &settings.secret_access_key);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(S3Store {
            bucket,
            credentials,
            agent,
            url: settings.url.clone(),
        })
    }

    fn exists(&self, key: &str) -> anyhow::Result<bool> {
        use rusty_s3::S3Action;
        let signed = self.bucket.head_object(Some(&self.credentials), key).sign(SIGNED_FOR);
        let response = self
            .agent
            .head(signed.as_str())
            .call()
            .context("asking the S3 store for an object")?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            other => anyhow::bail!("the S3 store answered {other} to HEAD {key}"),
        }
    }
}

impl FileStore for S3Store {
    fn put(&self, key: &str, bytes: &[u8], content_type: &str) -> anyhow::Result<()> {
        use rusty_s3::S3Action;
        if self.exists(key)? {
            return Ok(());
        }
        let signed = self.bucket.put_object(Some(&self.credentials), key).sign(SIGNED_FOR);
        let response = self
            .agent
            .put(signed.as_str())
            .header("content-type", content_type)
            .send(bytes)
            .context("sending an object to the S3 store")?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            anyhow::bail!("the S3 store answered {status} to PUT {key}");
        }
        Ok(())
    }

    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        use rusty_s3::S3Action;
        let signed = self.bucket.get_object(Some(&self.credentials), key).sign(SIGNED_FOR);
        let mut response = self
            .agent
            .get(signed.as_str())
            .call()
            .context("reading an object from the S3 store")?;
        match response.status().as_u16() {
            200 => {
                let mut bytes = Vec::new();
                response
                    .body_mut()
                    .as_reader()
                    .take(MAX_OBJECT_BYTES)
                    .read_to_end(&mut bytes)
                    .context("reading an object from the S3 store")?;
                Ok(Some(bytes))
            }
            404 => Ok(None),
            other => anyhow::bail!("the S3 store answered {other} to GET {key}"),
        }
    }

    fn describe(&self) -> String {
        format!("S3-compatible bucket {}", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_store_keeps_what_it_was_given() {
        let dir = std::env::temp_dir().join(format!("depot-store-{}", uuid::Uuid::new_v4().simple()));
        let store = DirStore::open(&dir);
        let key = blob_key("ab12");
        assert_eq!(key, "blobs/ab/ab12");
        assert!(store.get(&key).unwrap_or_else(|e| panic!("{e}")).is_none());
        store
            .put(&key, b"one", "application/pdf")
            .unwrap_or_else(|e| panic!("{e}"));
        store
            .put(&key, b"one", "application/pdf")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.get(&key).unwrap_or_else(|e| panic!("{e}")).as_deref(),
            Some(&b"one"[..])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_s3_url_names_one_bucket() {
        let settings = |url: &str| S3Settings {
            url: url.to_owned(),
            region: "us-east-1".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
        };
        assert!(S3Store::open(&settings("http://127.0.0.1:9000/depot")).is_ok());
        assert!(S3Store::open(&settings("http://127.0.0.1:9000/")).is_err());
        assert!(S3Store::open(&settings("http://127.0.0.1:9000/a/b")).is_err());
        assert!(S3Store::open(&settings("ftp://127.0.0.1/a")).is_err());
    }
}
