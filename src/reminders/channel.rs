//! How a message leaves Depot: a channel takes one SMS and says whether it went.

use serde_json::json;

use super::model::GatewaySettings;

/// One text message to one phone.
#[derive(Debug, Clone)]
pub struct Sms<'a> {
    /// The reminder's id: the provider's "out id", so a retried request can be recognised on its side.
    pub id: uuid::Uuid,
    pub phone: &'a str,
    pub text: &'a str,
}

/// Sends messages. `Err` carries the reason the message did not go (it is retried a few times).
pub trait Channel: Send + Sync {
    /// The channel's name, recorded with every message sent.
    fn name(&self) -> &'static str;
    fn send(&self, sms: &Sms<'_>) -> Result<(), String>;
}

/// The default: writes the message to the log (a server without a gateway still shows what it would send).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogChannel;

impl Channel for LogChannel {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send(&self, sms: &Sms<'_>) -> Result<(), String> {
        tracing::info!(
            reminder = %sms.id,
            phone = %crate::tracking::rules::mask_phone(sms.phone),
            // The tracking link's token opens the customer's repair: the log keeps its first characters only.
            text = %mask_tracking_token(sms.text),
            "SMS (log channel)"
        );
        Ok(())
    }
}

/// An HTTP SMS gateway in the shape of the usual providers: a JSON `POST` with the number, the text, the sign name
/// and template id, and the key in the `X-Api-Key` header. A 2xx answer within the timeout means sent; anything
/// else (another status, no answer) is a failed attempt. Plain `http://` only: this build has no TLS client, so an
/// `https://` provider is reached through a local TLS-terminating proxy.
pub struct HttpSmsGateway {
    settings: GatewaySettings,
    agent: ureq::Agent,
}

impl HttpSmsGateway {
    pub fn new(settings: GatewaySettings) -> HttpSmsGateway {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(settings.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        HttpSmsGateway { settings, agent }
    }
}

impl Channel for HttpSmsGateway {
    fn name(&self) -> &'static str {
        "http_sms"
    }

    fn send(&self, sms: &Sms<'_>) -> Result<(), String> {
        let body = json!({
            "phone_number": sms.phone,
            "sign_name": self.settings.sign_name,
            "template_id": self.settings.template_id,
            "text": sms.text,
            "out_id": sms.id.to_string(),
        });
        match self
            .agent
            .post(&self.settings.url)
            .header("X-Api-Key", &self.settings.api_key)
            .send_json(&body)
        {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("the SMS gateway answered {}", response.status().as_u16())),
            Err(e) => Err(format!("the SMS gateway could not be reached: {e}")),
        }
    }
}

/// `text` with every tracking token (the 43 characters after `/tracking/`) cut to its first 6 characters.
pub fn mask_tracking_token(text: &str) -> String {
    const MARK: &str = "/tracking/";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let (head, tail) = rest.split_at(at + MARK.len());
        out.push_str(head);
        let token_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        let shown = token_len.min(6);
        out.push_str(&tail[..shown]);
        if token_len > shown {
            out.push('…');
        }
        rest = &tail[token_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_tracking_token;

    #[test]
    fn the_log_keeps_no_whole_tracking_token() {
        let token = "AbCdEf0123456789abcdefghijklmnopqrstuvwxyz_";
        let text = format!("Ready: http://x/api/v1/public/tracking/{token} thanks");
        assert_eq!(
            mask_tracking_token(&text),
            "Ready: http://x/api/v1/public/tracking/AbCdEf… thanks"
        );
        assert_eq!(mask_tracking_token("no link"), "no link");
    }
}
