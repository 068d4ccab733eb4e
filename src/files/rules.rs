//! What a file is, judged from its bytes alone; what of a photo is kept; the thumbnail; the download links'
//! signatures. Pure functions, no database and no store in sight.

use hmac::{Hmac, Mac};
use img_parts::ImageEXIF;
use sha2::{Digest, Sha256};

use super::model::FileType;

/// Longest edge of a thumbnail, in pixels.
pub const THUMBNAIL_EDGE: u32 = 320;
/// Largest picture decoded for a thumbnail (either edge, in pixels): a small file declaring a giant picture is
/// refused instead of decoded.
pub const MAX_DECODED_EDGE: u32 = 16_384;
/// Largest allocation the decoder may make for one picture.
const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;

/// The type of a file from its first bytes (magic numbers), whatever its name or declared type says.
pub fn detect(bytes: &[u8]) -> Option<FileType> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(FileType::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(FileType::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(FileType::Webp)
    } else if bytes.starts_with(b"%PDF-") {
        Some(FileType::Pdf)
    } else {
        None
    }
}

/// How a declared content type compares with the detected type.
#[derive(Debug, PartialEq, Eq)]
pub enum Declared {
    /// No type, or `application/octet-stream`: the bytes decide.
    Silent,
    Agrees,
    Disagrees(String),
}

/// Compares a declared `Content-Type` (parameters ignored; `image/jpg` read as `image/jpeg`) with the detected type.
pub fn compare_declared(declared: Option<&str>, detected: FileType) -> Declared {
    let Some(declared) = declared else {
        return Declared::Silent;
    };
    let essence = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "" | "application/octet-stream" => Declared::Silent,
        "image/jpg" | "image/pjpeg" if detected == FileType::Jpeg => Declared::Agrees,
        other if other == detected.content_type() => Declared::Agrees,
        other => Declared::Disagrees(other.to_owned()),
    }
}

/// Why a photo could not be processed.
#[derive(Debug, PartialEq, Eq)]
pub enum PhotoError {
    /// The bytes start like the type but do not parse as it.
    Unreadable(String),
    /// Larger than [`MAX_DECODED_EDGE`] or the decoder's allocation limit.
    TooLarge,
}

/// The photo without its metadata: JPEG APP1 (EXIF, XMP) and APP13 (IPTC) segments; PNG `eXIf` and text chunks
/// (`tEXt`, `zTXt`, `iTXt`: XMP lives there); WebP `EXIF` and `XMP ` chunks. Location, camera serials and the
/// like go with them; the picture itself is untouched (no re-encoding). A PDF is returned as it is.
pub fn strip_metadata(kind: FileType, bytes: Vec<u8>) -> Result<Vec<u8>, PhotoError> {
    let unreadable = |e: img_parts::Error| PhotoError::Unreadable(format!("not a readable {}: {e}", kind.label()));
    match kind {
        FileType::Pdf => Ok(bytes),
        FileType::Jpeg => {
            let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(bytes.into()).map_err(unreadable)?;
            jpeg.segments_mut().retain(|s| {
                s.marker() != img_parts::jpeg::markers::APP1 && s.marker() != img_parts::jpeg::markers::APP13
            });
            Ok(jpeg.encoder().bytes().to_vec())
        }
        FileType::Png => {
            let mut png = img_parts::png::Png::from_bytes(bytes.into()).map_err(unreadable)?;
            png.chunks_mut()
                .retain(|c| !matches!(&c.kind(), b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt"));
            Ok(png.encoder().bytes().to_vec())
        }
        FileType::Webp => {
            let mut webp = img_parts::webp::WebP::from_bytes(bytes.into()).map_err(unreadable)?;
            webp.remove_chunks_by_id(*b"XMP ");
            // Also recomputes the VP8X header's flags from the chunks left.
            webp.set_exif(None);
            Ok(webp.encoder().bytes().to_vec())
        }
    }
}

/// A PNG thumbnail of an image, at most [`THUMBNAIL_EDGE`] pixels on its longer edge (never enlarged); `None` for
/// a PDF.
pub fn thumbnail(kind: FileType, bytes: &[u8]) -> Result<Option<Vec<u8>>, PhotoError> {
    let format = match kind {
        FileType::Jpeg => image::ImageFormat::Jpeg,
        FileType::Png => image::ImageFormat::Png,
        FileType::Webp => image::ImageFormat::WebP,
        FileType::Pdf => return Ok(None),
    };
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODED_EDGE);
    limits.max_image_height = Some(MAX_DECODED_EDGE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => PhotoError::TooLarge,
        other => PhotoError::Unreadable(format!("not a readable {}: {other}", kind.label())),
    })?;
    let small = if picture.width() > THUMBNAIL_EDGE || picture.height() > THUMBNAIL_EDGE {
        picture.thumbnail(THUMBNAIL_EDGE, THUMBNAIL_EDGE)
    } else {
        picture
    };
    let mut out = std::io::Cursor::new(Vec::new());
    small
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| PhotoError::Unreadable(format!("the thumbnail could not be made: {e}")))?;
    Ok(Some(out.into_inner()))
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which bytes a download link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkVariant {
    Content,
    Thumbnail,
}

impl LinkVariant {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkVariant::Content => "content",
            LinkVariant::Thumbnail => "thumbnail",
        }
    }
}

/// The signature of a download link: HMAC-SHA256 under the server's link key over the file, the variant and the
/// expiry (Unix seconds), in hex.
pub fn link_signature(key: &[u8], file_id: uuid::Uuid, variant: LinkVariant, expires: i64) -> String {
    hex(&link_mac(key, file_id, variant, expires).finalize().into_bytes())
}

/// Whether `signature` is the link's, compared in constant time. Expiry is the caller's to check.
pub fn link_signature_valid(
    key: &[u8],
    file_id: uuid::Uuid,
    variant: LinkVariant,
    expires: i64,
    signature: &str,
) -> bool {
    let Some(given) = unhex(signature) else {
        return false;
    };
    link_mac(key, file_id, variant, expires).verify_slice(&given).is_ok()
}

fn link_mac(key: &[u8], file_id: uuid::Uuid, variant: LinkVariant, expires: i64) -> Hmac<Sha256> {
    #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("depot-file-link.v1.{file_id}.{}.{expires}", variant.as_str()).as_bytes());
    mac
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(detect(&[0xFF, 0xD8, 0xFF, 0xE0, 0]), Some(FileType::Jpeg));
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n...."), Some(FileType::Png));
        assert_eq!(detect(b"RIFF\x10\0\0\0WEBPVP8 "), Some(FileType::Webp));
        assert_eq!(detect(b"%PDF-1.7\n"), Some(FileType::Pdf));
        assert_eq!(detect(b"MZ\x90\0\x03\0\0\0"), None, "a Windows executable");
        assert_eq!(detect(b"\x7fELF\x02\x01\x01"), None, "an ELF executable");
        assert_eq!(detect(b"RIFF\x10\0\0\0WAVE"), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn a_declared_type_must_agree_with_the_bytes() {
        assert_eq!(compare_declared(None, FileType::Png), Declared::Silent);
        assert_eq!(
            compare_declared(Some("application/octet-stream"), FileType::Png),
            Declared::Silent
        );
        assert_eq!(compare_declared(Some("image/png"), FileType::Png), Declared::Agrees);
        assert_eq!(
            compare_declared(Some("Image/JPG; q=1"), FileType::Jpeg),
            Declared::Agrees
        );
        assert_eq!(
            compare_declared(Some("image/jpeg"), FileType::Pdf),
            Declared::Disagrees("image/jpeg".into())
        );
    }

    #[test]
    fn links_are_signed_for_one_file_variant_and_expiry() {
        let key = [7u8; 32];
        let id = uuid::Uuid::now_v7();
        let sig = link_signature(&key, id, LinkVariant::Content, 100);
        assert!(link_signature_valid(&key, id, LinkVariant::Content, 100, &sig));
        assert!(!link_signature_valid(&key, id, LinkVariant::Thumbnail, 100, &sig));
        assert!(!link_signature_valid(&key, id, LinkVariant::Content, 101, &sig));
        assert!(!link_signature_valid(&[8u8; 32], id, LinkVariant::Content, 100, &sig));
        assert!(!link_signature_valid(
            &key,
            uuid::Uuid::now_v7(),
            LinkVariant::Content,
            100,
            &sig
        ));
        assert!(!link_signature_valid(&key, id, LinkVariant::Content, 100, "zz"));
    }

    #[test]
    fn a_png_loses_its_text_and_exif_chunks_and_keeps_its_picture() {
        let picture = image::RgbImage::from_pixel(400, 200, image::Rgb([10, 20, 30]));
        let mut png = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(picture)
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut parsed = img_parts::png::Png::from_bytes(png.into_inner().into()).unwrap_or_else(|e| panic!("{e}"));
        let at = parsed.chunks().len() - 1;
        parsed.chunks_mut().insert(
            at,
            img_parts::png::PngChunk::new(*b"tEXt", img_parts::Bytes::from_static(b"GPS\0 31.2,121.4")),
        );
        let with_text = parsed.encoder().bytes().to_vec();
        let stripped = strip_metadata(FileType::Png, with_text.clone()).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(stripped.len() < with_text.len());
        assert!(!stripped.windows(3).any(|w| w == b"GPS"));
        let thumb = thumbnail(FileType::Png, &stripped)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .unwrap_or_default();
        let decoded = image::load_from_memory(&thumb).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((decoded.width(), decoded.height()), (320, 160));
    }

    #[test]
    fn broken_images_are_refused_not_crashed_on() {
        assert!(matches!(
            strip_metadata(FileType::Png, b"\x89PNG\r\n\x1a\n\0\0".to_vec()),
            Err(PhotoError::Unreadable(_))
        ));
        assert!(matches!(
            thumbnail(FileType::Jpeg, &[0xFF, 0xD8, 0xFF, 0xD9]),
            Err(PhotoError::Unreadable(_))
        ));
        assert_eq!(thumbnail(FileType::Pdf, b"%PDF-1.4"), Ok(None));
    }
}
