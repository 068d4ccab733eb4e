//! A query-string extractor that names the bad parameter and rejects unknown ones.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{Ready, ready};
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldError};

pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(ApiQuery))
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let message = err.inner().to_string();
        let path = err.path().to_string();
        let field = if path == "." {
            message
                .split('`')
                .nth(1)
                .map(str::to_owned)
                .unwrap_or_else(|| "query".to_owned())
        } else {
            path
        };
        AppError::Validation(vec![FieldError::new(field, message)])
    })
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<i64>,
        active: Option<bool>,
    }

    fn field_of(q: &str) -> String {
        match parse_query::<Q>(q) {
            Err(AppError::Validation(errors)) => errors[0].field.clone(),
            Err(other) => other.code().to_owned(),
            Ok(_) => "ok".to_owned(),
        }
    }

    #[test]
    fn names_the_bad_parameter() {
        assert_eq!(field_of("limit=ten"), "limit");
        assert_eq!(field_of("active=maybe"), "active");
        assert_eq!(field_of("colour=red"), "colour");
        assert_eq!(field_of("limit=10&active=true"), "ok");
        assert_eq!(field_of(""), "ok");
    }
}
