//! Photos and files on tickets and loans: uploads (multipart and raw), lists, downloads, thumbnails, visibility,
//! signed links, deduplication (also under concurrent uploads), metadata stripping, bad input, and the
//! S3-compatible store against a local server.

use std::io::Read;
use std::time::Duration;

use depot::files::FilesSettings;
use img_parts::ImageEXIF;
use serde_json::{Value, json};

use crate::helpers::{Resp, TestApp, spawn_app_with};
use crate::tickets::{open, premium};

/// The server with its file store in a fresh directory (returned), and settings changed by `more`.
fn app_with_files(more: impl FnOnce(&mut FilesSettings)) -> (TestApp, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("depot-files-test-{}", uuid::Uuid::new_v4().simple()));
    let root = dir.clone();
    let app = spawn_app_with(move |s| {
        s.files.dir = Some(root);
        more(&mut s.files);
    });
    (app, dir)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// An answer with its bytes kept (downloads are not JSON).
struct Raw {
    status: u16,
    content_type: String,
    bytes: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    fn resp(&self) -> Resp {
        Resp {
            status: self.status,
            content_type: self.content_type.clone(),
            headers: vec![],
            body: self.json(),
            text: String::from_utf8_lossy(&self.bytes).into_owned(),
        }
    }
}

fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Raw {
    let mut res = result.unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut bytes = Vec::new();
    res.body_mut()
        .as_reader()
        .read_to_end(&mut bytes)
        .unwrap_or_else(|e| panic!("reading the answer: {e}"));
    Raw {
        status,
        content_type,
        bytes,
    }
}

fn upload_raw(app: &TestApp, path: &str, key: &str, content_type: Option<&str>, bytes: &[u8]) -> Raw {
    let mut req = agent()
        .post(&app.url(path))
        .header("Authorization", &format!("Bearer {key}"));
    if let Some(t) = content_type {
        req = req.header("Content-Type", t);
    }
    finish(req.send(bytes))
}

/// One part of a multipart body: name, filename, content type, bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart body.
fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "depot-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match filename {
            Some(f) => format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n"),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        if let Some(t) = content_type {
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn upload_form(app: &TestApp, path: &str, key: &str, parts: &[Part<'_>]) -> Raw {
    let (content_type, body) = multipart(parts);
    upload_raw(app, path, key, Some(&content_type), &body)
}

fn get_raw(app: &TestApp, path: &str, key: Option<&str>) -> Raw {
    let mut req = agent().get(&app.url(path));
    if let Some(k) = key {
        req = req.header("Authorization", &format!("Bearer {k}"));
    }
    finish(req.call())
}

fn encode(picture: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut out, format)
        .unwrap_or_else(|e| panic!("encoding: {e}"));
    out.into_inner()
}

fn picture(width: u32, height: u32, shade: u8) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, shade])
    }))
}

/// A TIFF-structured EXIF block whose GPS IFD says 31°14'N.
fn gps_exif() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"II\x2a\x00");
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0: one entry, GPSInfo (0x8825, LONG) pointing at the GPS IFD at 26.
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&0x8825u16.to_le_bytes());
    t.extend_from_slice(&4u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&26u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD: GPSLatitudeRef "N", GPSLatitude 31/1 14/1 0/1 at 56.
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&2u32.to_le_bytes());
    t.extend_from_slice(b"N\0\0\0");
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&5u16.to_le_bytes());
    t.extend_from_slice(&3u32.to_le_bytes());
    t.extend_from_slice(&56u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    for (n, d) in [(31u32, 1u32), (14, 1), (0, 1)] {
        t.extend_from_slice(&n.to_le_bytes());
        t.extend_from_slice(&d.to_le_bytes());
    }
    t
}

/// A 640x480 JPEG photo carrying GPS EXIF.
fn jpeg_with_gps() -> Vec<u8> {
    let plain = encode(picture(640, 480, 90), image::ImageFormat::Jpeg);
    let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(plain.into()).unwrap_or_else(|e| panic!("{e}"));
    jpeg.set_exif(Some(gps_exif().into()));
    let bytes = jpeg.encoder().bytes().to_vec();
    let check = img_parts::jpeg::Jpeg::from_bytes(bytes.clone().into()).unwrap_or_else(|e| panic!("{e}"));
    assert!(check.exif().is_some(), "the test photo carries EXIF");
    bytes
}

fn blob_count(app: &TestApp, sha256: &str) -> i64 {
    app.db
        .read(|conn| depot::files::repo::blobs_with_hash(conn, sha256))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Files left in a directory tree.
fn files_under(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() { files_under(&path) } else { 1 }
        })
        .sum()
}

#[test]
fn photos_are_uploaded_stripped_listed_downloaded_thumbnailed_shown_and_deleted() {
    let (app, dir) = app_with_files(|_| {});
    let p = premium(&app, "FIL1", 1);
    let ticket = open(&app, &p);
    let ticket_id = ticket.id();
    let loan_id = ticket.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    let staff = app.create_key("store_staff", &[&p.store]);
    let files_path = format!("/api/v1/tickets/{ticket_id}/files");

    // A photo with GPS EXIF, as a multipart form, shown to the customer.
    let photo = jpeg_with_gps();
    let up = upload_form(
        &app,
        &files_path,
        &staff,
        &[
            ("file", Some("IMG_0001.jpg"), Some("image/jpeg"), &photo),
            ("stage", None, None, b"intake"),
            ("visibility", None, None, b"customer_visible"),
        ],
    );
    assert_eq!(up.status, 201, "{}", up.resp().text);
    let photo_file = up.json();
    assert_eq!(photo_file["content_type"], "image/jpeg");
    assert_eq!(photo_file["stage"], "intake");
    assert_eq!(photo_file["visibility"], "customer_visible");
    assert_eq!(photo_file["file_name"], "IMG_0001.jpg");
    assert_eq!(photo_file["has_thumbnail"], true);
    assert_eq!(photo_file["ticket_id"], ticket_id.as_str());
    let photo_id = photo_file["id"].as_str().unwrap_or_default().to_owned();

    // The bytes come back without EXIF (so without the location), and still the same picture.
    let content = get_raw(&app, &format!("/api/v1/files/{photo_id}/content"), Some(&staff));
    assert_eq!(content.status, 200);
    assert_eq!(content.content_type, "image/jpeg");
    assert!(content.bytes.len() < photo.len());
    let stored = img_parts::jpeg::Jpeg::from_bytes(content.bytes.clone().into()).unwrap_or_else(|e| panic!("{e}"));
    assert!(stored.exif().is_none(), "EXIF (with its GPS tags) is gone");
    assert!(!content.bytes.windows(6).any(|w| w == b"Exif\0\0"));
    let decoded = image::load_from_memory(&content.bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((decoded.width(), decoded.height()), (640, 480));
    assert_eq!(photo_file["size_bytes"], content.bytes.len() as u64);
    let digest = depot::files::rules::sha256_hex(&content.bytes);
    assert_eq!(
        photo_file["sha256"],
        digest.as_str(),
        "the hash is of the bytes as stored"
    );

    // A thumbnail at most 320 px.
    let thumb = get_raw(&app, &format!("/api/v1/files/{photo_id}/thumbnail"), Some(&staff));
    assert_eq!(thumb.status, 200);
    assert_eq!(thumb.content_type, "image/png");
    let small = image::load_from_memory(&thumb.bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((small.width(), small.height()), (320, 240));

    // A PDF as a raw body, stage in the query; no thumbnail.
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec();
    let up = upload_raw(
        &app,
        &format!("{files_path}?stage=diagnosis"),
        &staff,
        Some("application/pdf"),
        &pdf,
    );
    assert_eq!(up.status, 201, "{}", up.resp().text);
    let pdf_file = up.json();
    assert_eq!(pdf_file["content_type"], "application/pdf");
    assert_eq!(pdf_file["visibility"], "internal");
    assert_eq!(pdf_file["has_thumbnail"], false);
    let pdf_id = pdf_file["id"].as_str().unwrap_or_default().to_owned();
    let content = get_raw(&app, &format!("/api/v1/files/{pdf_id}/content"), Some(&staff));
    assert_eq!(
        (content.status, content.content_type.as_str()),
        (200, "application/pdf")
    );
    assert_eq!(content.bytes, pdf, "a PDF is stored as it came");
    get_raw(&app, &format!("/api/v1/files/{pdf_id}/thumbnail"), Some(&staff))
        .resp()
        .problem(404, "not_found");

    // Past actix's own default body limits (256 KiB) and the JSON limit (64 KiB), up to the upload limit.
    let large = [b"%PDF-1.7\n".as_slice(), &vec![b' '; 3 * 1024 * 1024]].concat();
    let up = upload_raw(&app, &format!("{files_path}?stage=repair"), &staff, None, &large);
    assert_eq!(up.status, 201, "{}", up.resp().text);
    assert_eq!(up.json()["size_bytes"], large.len() as u64);
    let large_id = up.json()["id"].as_str().unwrap_or_default().to_owned();
    let deleted = agent()
        .delete(&app.url(&format!("/api/v1/files/{large_id}")))
        .header("Authorization", &format!("Bearer {staff}"))
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deleted.status().as_u16(), 204);

    // The list, oldest first; the metadata.
    let list = app.get(&files_path, Some(&staff));
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids, vec![photo_id.as_str(), pdf_id.as_str()]);
    let got = app.get(&format!("/api/v1/files/{pdf_id}"), Some(&staff));
    assert_eq!(got.status, 200);
    assert_eq!(got.body["sha256"], pdf_file["sha256"]);

    // What the tracking link may show: the customer-visible photo, with links that work without a key.
    let shown = app
        .db
        .read(|conn| {
            depot::files::customer_visible_of_ticket(conn, uuid::Uuid::parse_str(&ticket_id).unwrap_or_default())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].id.to_string(), photo_id);
    let opened = get_raw(&app, &shown[0].url, None);
    assert_eq!(opened.status, 200);
    assert_eq!(depot::files::rules::sha256_hex(&opened.bytes), digest);
    let thumb_url = shown[0].thumbnail_url.clone().unwrap_or_default();
    assert_eq!(get_raw(&app, &thumb_url, None).content_type, "image/png");
    // An altered link opens nothing.
    let altered = shown[0].url.replace("variant=content", "variant=thumbnail");
    get_raw(&app, &altered, None).resp().problem(404, "not_found");
    let later = shown[0].url.replace("expires=", "expires=1");
    get_raw(&app, &later, None).resp().problem(404, "not_found");

    // Visibility changes what the customer sees.
    let patched = app.send(
        "PATCH",
        &format!("/api/v1/files/{photo_id}"),
        Some(&staff),
        &[],
        &json!({"visibility": "internal"}).to_string(),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["visibility"], "internal");
    let shown = app
        .db
        .read(|conn| {
            depot::files::customer_visible_of_ticket(conn, uuid::Uuid::parse_str(&ticket_id).unwrap_or_default())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(shown.is_empty());
    let bad = app.send(
        "PATCH",
        &format!("/api/v1/files/{photo_id}"),
        Some(&staff),
        &[],
        r#"{"visibility":"public"}"#,
    );
    bad.problem(400, "validation_failed");

    // A signed link made by staff.
    let link = app.post(
        &format!("/api/v1/files/{pdf_id}/links"),
        &staff,
        &json!({"ttl_seconds": 120}),
    );
    assert_eq!(link.status, 200, "{}", link.text);
    let url = link.body["url"].as_str().unwrap_or_default().to_owned();
    assert_eq!(get_raw(&app, &url, None).bytes, pdf);
    app.post(
        &format!("/api/v1/files/{pdf_id}/links"),
        &staff,
        &json!({"ttl_seconds": 5}),
    )
    .problem(400, "validation_failed");
    app.post(
        &format!("/api/v1/files/{pdf_id}/links"),
        &staff,
        &json!({"variant": "thumbnail"}),
    )
    .problem(400, "validation_failed");

    // Out of scope: another store's staff see nothing, and a courier key may not.
    let other_store = app.create_store("FIL1B", "Wuhan");
    let outsider = app.create_key("store_staff", &[&other_store]);
    app.get(&format!("/api/v1/files/{pdf_id}"), Some(&outsider))
        .problem(404, "not_found");
    app.get(&files_path, Some(&outsider)).problem(404, "not_found");
    assert_eq!(
        get_raw(&app, &format!("/api/v1/files/{pdf_id}/content"), Some(&outsider)).status,
        404
    );
    let refused = upload_raw(
        &app,
        &format!("{files_path}?stage=repair"),
        &outsider,
        Some("application/pdf"),
        &pdf,
    );
    assert_eq!(refused.status, 404);
    assert_eq!(
        get_raw(&app, &format!("/api/v1/files/{pdf_id}/content"), None).status,
        401
    );

    // Deleting hides the file and kills its links; the bytes stay (the other files may share them).
    let deleted = agent()
        .delete(&app.url(&format!("/api/v1/files/{pdf_id}")))
        .header("Authorization", &format!("Bearer {staff}"))
        .call()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deleted.status().as_u16(), 204);
    app.get(&format!("/api/v1/files/{pdf_id}"), Some(&staff))
        .problem(404, "not_found");
    assert_eq!(get_raw(&app, &url, None).status, 404);
    let list = app.get(&files_path, Some(&staff));
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    let pdf_hash = pdf_file["sha256"].as_str().unwrap_or_default();
    assert_eq!(blob_count(&app, pdf_hash), 1);

    // A loan's photos: the loaner's condition at hand-over.
    let png = encode(picture(200, 100, 5), image::ImageFormat::Png);
    let loan_path = format!("/api/v1/loans/{loan_id}/files");
    let up = upload_raw(
        &app,
        &format!("{loan_path}?stage=handover&file_name=front.png"),
        &staff,
        None,
        &png,
    );
    assert_eq!(up.status, 201, "{}", up.resp().text);
    assert_eq!(up.json()["loan_id"], loan_id.as_str());
    assert_eq!(up.json()["file_name"], "front.png");
    let wrong_stage = upload_raw(&app, &format!("{loan_path}?stage=intake"), &staff, None, &png);
    assert_eq!(wrong_stage.resp().bad_fields(), vec!["stage"]);
    let list = app.get(&loan_path, Some(&staff));
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));

    // Each upload wrote its event.
    let mut seen = 0;
    for _ in 0..50 {
        depot::events::sequence(&app.db).unwrap_or_else(|e| panic!("sequencing: {e}"));
        let feed = app.get_admin("/api/v1/events?types=file.attached");
        seen = feed.body["items"].as_array().map(Vec::len).unwrap_or_default();
        if seen == 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen, 4, "one file.attached event per upload");
    // Nothing left in the spool.
    assert_eq!(files_under(&dir.join(".incoming")), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn disguised_oversized_and_malformed_uploads_are_refused_and_store_nothing() {
    let (app, dir) = app_with_files(|f| f.max_upload_bytes = 64 * 1024);
    let p = premium(&app, "FIL2", 0);
    let ticket = open(&app, &p);
    let path = format!("/api/v1/tickets/{}/files", ticket.id());
    let key = app.admin_key.clone();

    // An executable named .jpg and declared as a JPEG.
    let exe = [b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".as_slice(), &[0u8; 200]].concat();
    let res = upload_form(
        &app,
        &path,
        &key,
        &[
            ("file", Some("holiday.jpg"), Some("image/jpeg"), &exe),
            ("stage", None, None, b"intake"),
        ],
    );
    let problem = res.resp();
    problem.problem(400, "validation_failed");
    assert_eq!(problem.bad_fields(), vec!["file"]);
    assert!(problem.text.contains("unsupported file type"), "{}", problem.text);
    let res = upload_raw(&app, &format!("{path}?stage=intake"), &key, Some("image/jpeg"), &exe);
    assert_eq!(res.resp().bad_fields(), vec!["file"]);

    // A declared type that disagrees with the bytes.
    let png = encode(picture(10, 10, 1), image::ImageFormat::Png);
    let res = upload_raw(&app, &format!("{path}?stage=intake"), &key, Some("image/jpeg"), &png);
    assert_eq!(res.status, 400);
    assert_eq!(res.resp().bad_fields(), vec!["content_type"]);
    let res = upload_form(
        &app,
        &path,
        &key,
        &[
            ("file", Some("a.png"), Some("application/pdf"), &png),
            ("stage", None, None, b"repair"),
        ],
    );
    assert_eq!(res.resp().bad_fields(), vec!["file"]);

    // Too large: refused from its Content-Length, or while it streams in (multipart).
    let big = [png.clone(), vec![0u8; 70 * 1024]].concat();
    let res = upload_raw(&app, &format!("{path}?stage=intake"), &key, Some("image/png"), &big);
    res.resp().problem(413, "payload_too_large");
    let res = upload_form(
        &app,
        &path,
        &key,
        &[("file", Some("big.png"), None, &big), ("stage", None, None, b"intake")],
    );
    res.resp().problem(413, "payload_too_large");

    // Missing or unknown fields, a truncated image, an empty body.
    let res = upload_raw(&app, &path, &key, Some("image/png"), &png);
    assert_eq!(res.resp().bad_fields(), vec!["stage"]);
    let res = upload_raw(
        &app,
        &format!("{path}?stage=intake&colour=red"),
        &key,
        Some("image/png"),
        &png,
    );
    assert_eq!(res.status, 400);
    let res = upload_form(&app, &path, &key, &[("stage", None, None, b"intake")]);
    assert_eq!(res.resp().bad_fields(), vec!["file"]);
    let res = upload_form(
        &app,
        &path,
        &key,
        &[
            ("file", None, None, &png),
            ("stage", None, None, b"intake"),
            ("note", None, None, b"x"),
        ],
    );
    assert_eq!(res.status, 400);
    let res = upload_form(
        &app,
        &path,
        &key,
        &[("file", None, None, &png), ("stage", None, None, b"handover")],
    );
    assert_eq!(res.resp().bad_fields(), vec!["stage"]);
    let res = upload_raw(&app, &format!("{path}?stage=intake"), &key, None, &png[..png.len() / 2]);
    assert_eq!(res.resp().bad_fields(), vec!["file"]);
    let res = upload_raw(&app, &format!("{path}?stage=intake"), &key, None, b"");
    assert_eq!(res.resp().bad_fields(), vec!["file"]);
    let res = upload_raw(
        &app,
        "/api/v1/tickets/00000000-0000-7000-8000-000000000000/files?stage=intake",
        &key,
        None,
        &png,
    );
    res.resp().problem(404, "not_found");

    // Nothing was stored.
    let list = app.get_admin(&path);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(0), "{}", list.text);
    assert_eq!(files_under(&dir.join("blobs")), 0);
    assert_eq!(files_under(&dir.join(".incoming")), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Uploads of several spool batches (the spool is written in batches, off the async workers) arrive whole, raw
/// on a ticket and as a form on a loan; one that passes the limit while it streams in is refused with its spool
/// file, already partly written, removed.
#[test]
fn uploads_of_several_spool_batches_arrive_whole_and_one_past_the_limit_leaves_nothing() {
    let limit = 700 * 1024;
    let (app, dir) = app_with_files(|f| f.max_upload_bytes = limit);
    let p = premium(&app, "FIL5", 1);
    let ticket = open(&app, &p);
    let loan_id = ticket.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    let key = app.admin_key.clone();
    // 650 KiB PDFs whose 256 KiB batches all differ, so a batch written twice, or not at all, shows.
    let pdf = |period: u32, size: u64| -> Vec<u8> {
        let filler = (0..size as u32 - 9).map(|i| (i % period) as u8);
        b"%PDF-1.4\n".iter().copied().chain(filler).collect()
    };
    let ticket_pdf = pdf(251, 650 * 1024);
    let loan_pdf = pdf(241, 650 * 1024);

    let ticket_path = format!("/api/v1/tickets/{}/files", ticket.id());
    let up = upload_raw(
        &app,
        &format!("{ticket_path}?stage=repair"),
        &key,
        Some("application/pdf"),
        &ticket_pdf,
    );
    assert_eq!(up.status, 201, "{}", up.resp().text);
    let id = up.json()["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        get_raw(&app, &format!("/api/v1/files/{id}/content"), Some(&key)).bytes,
        ticket_pdf
    );

    let loan_path = format!("/api/v1/loans/{loan_id}/files");
    let up = upload_form(
        &app,
        &loan_path,
        &key,
        &[
            ("file", Some("front.pdf"), Some("application/pdf"), &loan_pdf),
            ("stage", None, None, b"handover"),
        ],
    );
    assert_eq!(up.status, 201, "{}", up.resp().text);
    let id = up.json()["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        get_raw(&app, &format!("/api/v1/files/{id}/content"), Some(&key)).bytes,
        loan_pdf
    );

    // One byte past the limit: within a form's allowance, so refused while it streams, after whole batches.
    let big = pdf(239, limit + 1);
    let res = upload_form(
        &app,
        &loan_path,
        &key,
        &[("file", Some("big.pdf"), None, &big), ("stage", None, None, b"return")],
    );
    res.resp().problem(413, "payload_too_large");
    for path in [&ticket_path, &loan_path] {
        let list = app.get_admin(path);
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1), "{}", list.text);
    }
    assert_eq!(files_under(&dir.join(".incoming")), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn identical_bytes_uploaded_at_once_are_stored_once() {
    let (app, dir) = app_with_files(|_| {});
    let p = premium(&app, "FIL3", 0);
    let ticket = open(&app, &p);
    let path = format!("/api/v1/tickets/{}/files?stage=repair", ticket.id());
    let png = encode(picture(300, 300, 77), image::ImageFormat::Png);
    let answers: Vec<Raw> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| upload_raw(&app, &path, &app.admin_key, Some("image/png"), &png)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| panic!("upload thread")))
            .collect()
    });
    let mut hashes = std::collections::HashSet::new();
    let mut ids = std::collections::HashSet::new();
    for a in &answers {
        assert_eq!(a.status, 201, "{}", a.resp().text);
        hashes.insert(a.json()["sha256"].as_str().unwrap_or_default().to_owned());
        ids.insert(a.json()["id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(hashes.len(), 1, "one content");
    assert_eq!(ids.len(), 8, "eight files");
    let hash = hashes.into_iter().next().unwrap_or_default();
    assert_eq!(blob_count(&app, &hash), 1, "one blob row");
    assert_eq!(files_under(&dir.join("blobs")), 1, "one object in the store");
    assert_eq!(files_under(&dir.join("thumbnails")), 1);

    // Idempotency-Key: a retried upload replays the first answer; the key with another file is a conflict.
    let with_key = |bytes: &[u8]| {
        finish(
            agent()
                .post(&app.url(&path))
                .header("Authorization", &format!("Bearer {}", app.admin_key))
                .header("Idempotency-Key", "upload-retry-1")
                .send(bytes),
        )
    };
    let first = with_key(&png);
    let again = with_key(&png);
    assert_eq!((first.status, again.status), (201, 201), "{}", again.resp().text);
    assert_eq!(first.json()["id"], again.json()["id"]);
    let other = encode(picture(30, 30, 1), image::ImageFormat::Png);
    with_key(&other).resp().problem(409, "idempotency_key_reused");
    let list = app.get_admin(&format!("/api/v1/tickets/{}/files?limit=200", ticket.id()));
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(9));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A local S3-compatible server (moto, from PyPI) on a free port, stopped when dropped.
struct S3Server {
    child: std::process::Child,
    url: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_s3_server() -> Option<S3Server> {
    let binary = std::env::var("DEPOT_TEST_S3_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let child = std::process::Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) if std::env::var("DEPOT_TEST_S3").is_ok_and(|v| !v.is_empty()) => {
            panic!("DEPOT_TEST_S3 is set but the S3-compatible server {binary} could not be started: {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIPPED: no S3-compatible test server ({binary}: {e}); install one with `pip install 'moto[server]'` \
                 (CI does, and sets DEPOT_TEST_S3 so that this test cannot skip there)"
            );
            return None;
        }
    };
    let server = S3Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..200 {
        if agent().get(&server.url).call().is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the S3-compatible server did not answer at {}", server.url)
}

#[test]
fn files_go_to_an_s3_compatible_store() {
    let Some(server) = start_s3_server() else {
        return;
    };
    let bucket = format!("depot-{}", uuid::Uuid::new_v4().simple());
    let made = agent()
        .put(&format!("{}/{bucket}", server.url))
        .send(&b""[..])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made.status().as_u16(), 200, "creating the bucket");
    let s3 = depot::files::S3Settings {
        url: format!("{}/{bucket}", server.url),
        region: "us-east-1".into(),
        access_key_id: "depot-test".into(),
        secret_access_key: "depot-test-secret".into(),
    };
    let s3_again = s3.clone();
    let app = spawn_app_with(move |s| s.files.s3 = Some(s3));
    let p = premium(&app, "FIL4", 0);
    let ticket = open(&app, &p);
    let photo = jpeg_with_gps();
    let up = upload_raw(
        &app,
        &format!("/api/v1/tickets/{}/files?stage=quality_check", ticket.id()),
        &app.admin_key,
        Some("image/jpeg"),
        &photo,
    );
    assert_eq!(up.status, 201, "{}", up.resp().text);
    let file = up.json();
    let id = file["id"].as_str().unwrap_or_default();
    let hash = file["sha256"].as_str().unwrap_or_default();
    let content = get_raw(&app, &format!("/api/v1/files/{id}/content"), Some(&app.admin_key));
    assert_eq!(content.status, 200);
    assert_eq!(depot::files::rules::sha256_hex(&content.bytes), hash);
    let thumb = get_raw(&app, &format!("/api/v1/files/{id}/thumbnail"), Some(&app.admin_key));
    assert_eq!(thumb.content_type, "image/png");
    // The object is in the bucket under its hash, as stored (without EXIF).
    let unsigned = finish(
        agent()
            .get(&format!("{}/{bucket}/blobs/{}/{hash}", server.url, &hash[..2]))
            .call(),
    );
    assert_eq!(unsigned.status, 403, "the bucket is not open to anyone");
    let reader = depot::files::S3Store::open(&s3_again).unwrap_or_else(|e| panic!("{e}"));
    let in_bucket = depot::files::FileStore::get(&reader, &format!("blobs/{}/{hash}", &hash[..2]))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert_eq!(in_bucket, content.bytes);
    // A second upload of the same photo finds the object in place.
    let again = upload_raw(
        &app,
        &format!("/api/v1/tickets/{}/files?stage=repair", ticket.id()),
        &app.admin_key,
        None,
        &photo,
    );
    assert_eq!(again.status, 201);
    assert_eq!(again.json()["sha256"], hash);
    assert_eq!(blob_count(&app, hash), 1);
}
