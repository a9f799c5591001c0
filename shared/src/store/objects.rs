//! The attachments bucket: every S3 request of the domain (presigned uploads and downloads, the
//! look at a stored object before it may be referenced, and the tag that keeps a referenced
//! object from the lifecycle rule). DynamoDB's requests of attachments are in
//! [`super::attachments`].

use crate::error::{Error, Result};
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A presigned upload is valid this long.
pub const UPLOAD_URL_SECS: u64 = 15 * 60;
/// A presigned download is valid this long.
pub const DOWNLOAD_URL_SECS: u64 = 5 * 60;
/// The tag an upload carries until it is referenced (the lifecycle rule's filter).
pub const PENDING_TAG: &str = "state=pending";
const KEPT_TAG: (&str, &str) = ("state", "kept");

/// The attachments bucket and its client.
#[derive(Clone, Debug)]
pub struct Files {
    client: aws_sdk_s3::Client,
    bucket: Option<String>,
}

/// A presigned request: the URL, the headers the client must send with it, and its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Presigned {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// What S3 holds of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub content_type: Option<String>,
}

fn s3<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> Error
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    Error::internal(format!(
        "s3: {}",
        aws_smithy_types::error::display::DisplayErrorContext(&e)
    ))
}

/// `attachment; filename="…"` with an ASCII fallback and the exact name in `filename*` (RFC 6266).
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded =
        percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

impl Files {
    pub fn new(client: aws_sdk_s3::Client, bucket: Option<String>) -> Self {
        Self { client, bucket }
    }

    /// The client of the environment's S3 endpoint (path-style addressing when an endpoint is
    /// set, as emulators need).
    pub fn from_sdk(sdk: &aws_config::SdkConfig, bucket: Option<String>) -> Self {
        let path_style = std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|v| !v.is_empty());
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build();
        Self::new(aws_sdk_s3::Client::from_conf(conf), bucket)
    }

    fn bucket(&self) -> Result<&str> {
        self.bucket
            .as_deref()
            .ok_or_else(|| Error::internal("ATTACHMENTS_BUCKET is not set"))
    }

    fn presigning(now: DateTime<Utc>, secs: u64) -> Result<PresigningConfig> {
        PresigningConfig::builder()
            .start_time(now.into())
            .expires_in(Duration::from_secs(secs))
            .build()
            .map_err(Error::internal)
    }

    /// A PUT of exactly `size` bytes of `content_type` to `key`, tagged pending, valid 15
    /// minutes from `now`: the type, the length and the tag are signed headers.
    pub async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        now: DateTime<Utc>,
    ) -> Result<Presigned> {
        let request = self
            .client
            .put_object()
            .bucket(self.bucket()?)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(size).map_err(Error::internal)?)
            .tagging(PENDING_TAG)
            .presigned(Self::presigning(now, UPLOAD_URL_SECS)?)
            .await
            .map_err(s3)?;
        let headers = request
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-length"))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Ok(Presigned {
            url: request.uri().to_string(),
            headers,
            expires_at: now + chrono::Duration::seconds(UPLOAD_URL_SECS as i64),
        })
    }

    /// A GET of `key` valid 5 minutes from `now`, answered with the attachment's type and a
    /// `Content-Disposition` naming its file.
    pub async fn presign_download(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        now: DateTime<Utc>,
    ) -> Result<Presigned> {
        let request = self
            .client
            .get_object()
            .bucket(self.bucket()?)
            .key(key)
            .response_content_disposition(content_disposition(filename))
            .response_content_type(content_type)
            .presigned(Self::presigning(now, DOWNLOAD_URL_SECS)?)
            .await
            .map_err(s3)?;
        Ok(Presigned {
            url: request.uri().to_string(),
            headers: Vec::new(),
            expires_at: now + chrono::Duration::seconds(DOWNLOAD_URL_SECS as i64),
        })
    }

    /// HeadObject: the stored object's size and type, or `None` if nothing was uploaded.
    pub async fn head(&self, key: &str) -> Result<Option<Stored>> {
        match self
            .client
            .head_object()
            .bucket(self.bucket()?)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(Stored {
                size: out
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: out.content_type().map(str::to_string),
            })),
            Err(e)
                if e.as_service_error().is_some_and(|se| se.is_not_found())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Ok(None)
            }
            Err(e) => Err(s3(e)),
        }
    }

    /// PutObjectTagging `state=kept`: the lifecycle rule no longer expires the object.
    pub async fn keep(&self, key: &str) -> Result<()> {
        let tag = aws_sdk_s3::types::Tag::builder()
            .key(KEPT_TAG.0)
            .value(KEPT_TAG.1)
            .build()
            .map_err(Error::internal)?;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(Error::internal)?;
        self.client
            .put_object_tagging()
            .bucket(self.bucket()?)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map_err(s3)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn files() -> Files {
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .build();
        Files::new(
            aws_sdk_s3::Client::from_conf(conf),
            Some("attachments".into()),
        )
    }

    fn query(url: &str) -> HashMap<String, String> {
        let parsed = reqwest::Url::parse(url).unwrap();
        parsed.query_pairs().into_owned().collect()
    }

    fn at() -> DateTime<Utc> {
        "2026-03-01T10:00:00Z".parse().unwrap()
    }

    #[tokio::test]
    async fn an_upload_url_signs_type_length_and_tag_and_lasts_15_minutes() {
        let p = files()
            .presign_upload("uploads/community/c/a", "image/png", 1234, at())
            .await
            .unwrap();
        let q = query(&p.url);
        assert_eq!(q["X-Amz-Expires"], "900");
        assert_eq!(q["X-Amz-Date"], "20260301T100000Z");
        let signed: Vec<&str> = q["X-Amz-SignedHeaders"].split(';').collect();
        for header in ["content-length", "content-type", "host", "x-amz-tagging"] {
            assert!(signed.contains(&header), "{header} in {signed:?}");
        }
        assert!(q.contains_key("X-Amz-Signature"));
        assert!(p.url.contains("uploads/community/c/a"), "{}", p.url);
        let headers: HashMap<_, _> = p.headers.into_iter().collect();
        assert_eq!(headers["content-type"], "image/png");
        assert_eq!(headers["x-amz-tagging"], PENDING_TAG);
        assert_eq!(p.expires_at, at() + chrono::Duration::seconds(900));
    }

    #[tokio::test]
    async fn upload_urls_of_other_sizes_or_types_differ_in_signature() {
        let f = files();
        let sig = |p: Presigned| query(&p.url)["X-Amz-Signature"].clone();
        let base = sig(f.presign_upload("k", "image/png", 10, at()).await.unwrap());
        let bigger = sig(f.presign_upload("k", "image/png", 11, at()).await.unwrap());
        let other = sig(f.presign_upload("k", "image/gif", 10, at()).await.unwrap());
        assert_ne!(base, bigger);
        assert_ne!(base, other);
    }

    #[tokio::test]
    async fn a_download_url_lasts_5_minutes_and_names_the_file() {
        let p = files()
            .presign_download("uploads/k", "notes été.pdf", "application/pdf", at())
            .await
            .unwrap();
        let q = query(&p.url);
        assert_eq!(q["X-Amz-Expires"], "300");
        assert_eq!(q["response-content-type"], "application/pdf");
        assert_eq!(
            q["response-content-disposition"],
            "attachment; filename=\"notes _t_.pdf\"; filename*=UTF-8''notes%20%C3%A9t%C3%A9%2Epdf"
        );
        assert_eq!(p.expires_at, at() + chrono::Duration::seconds(300));
    }
}
