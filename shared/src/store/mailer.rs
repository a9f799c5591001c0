//! Every SES request: a built MIME message sent raw through SES v2 `SendEmail`, with the
//! configuration set whose bounce and complaint events reach the `email` function.

use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};

/// Where mail comes from and which configuration set it is sent with.
#[derive(Clone, Debug)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Throttled, a 5xx, a timeout: the same message may be sent again later.
    Retry(String),
    /// SES refused this message for good (a rejected address, a malformed message): sending
    /// it again would be refused again.
    Rejected(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Retry(why) => write!(f, "retryable: {why}"),
            SendError::Rejected(why) => write!(f, "rejected: {why}"),
        }
    }
}

impl Mailer {
    pub fn new(
        sdk: &aws_config::SdkConfig,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client: aws_sdk_sesv2::Client::new(sdk),
            from: from.into(),
            configuration_set,
        }
    }

    /// The `From` address (the messages carry it in their headers too).
    pub fn from(&self) -> &str {
        &self.from
    }

    /// Sends one message (a whole MIME message) to one address; answers SES's message id.
    /// `kind` tags the message (`notification`, `digest`) for the configuration set's events.
    pub async fn send(&self, to: &str, raw: Vec<u8>, kind: &str) -> Result<String, SendError> {
        let raw = RawMessage::builder()
            .data(Blob::new(raw))
            .build()
            .map_err(|e| SendError::Rejected(e.to_string()))?;
        let tag = MessageTag::builder()
            .name("kind")
            .value(kind)
            .build()
            .map_err(|e| SendError::Rejected(e.to_string()))?;
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(tag)
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.message_id.unwrap_or_default()),
            Err(e) => Err(classify(e)),
        }
    }
}

fn classify(
    e: aws_sdk_sesv2::error::SdkError<
        aws_sdk_sesv2::operation::send_email::SendEmailError,
        aws_sdk_sesv2::config::http::HttpResponse,
    >,
) -> SendError {
    use aws_sdk_sesv2::error::SdkError;
    use aws_sdk_sesv2::operation::send_email::SendEmailError as E;
    let text = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
    match &e {
        SdkError::ServiceError(service) => match service.err() {
            E::TooManyRequestsException(_) | E::LimitExceededException(_) => SendError::Retry(text),
            // The account or the sending identity is paused: it comes back, the mail waits.
            E::AccountSuspendedException(_)
            | E::SendingPausedException(_)
            | E::MailFromDomainNotVerifiedException(_)
            | E::NotFoundException(_) => SendError::Retry(text),
            E::MessageRejected(_) | E::BadRequestException(_) => SendError::Rejected(text),
            _ => {
                if service.raw().status().is_server_error() {
                    SendError::Retry(text)
                } else {
                    SendError::Rejected(text)
                }
            }
        },
        // Timeouts, connection failures, responses that could not be read.
        _ => SendError::Retry(text),
    }
}
