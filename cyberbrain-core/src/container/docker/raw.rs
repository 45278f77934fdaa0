//! Plain JSON GETs for the container and network endpoints, parsed into the lenient models of
//! `convert`. bollard's generated models reject values outside Docker's enums, and Podman
//! sends some (`"State": "stopped"` while a container is being removed), which would fail a
//! whole listing; these calls read only the fields Cyberbrain uses, as plain strings.

use std::path::PathBuf;

use bollard::errors::Error as BollardError;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Endpoint;

/// An HTTP/1.1 client for one engine endpoint, with the API version prefix the bollard client
/// negotiated. Errors are bollard's, so one mapping covers both clients.
pub(super) struct RawClient {
    transport: Transport,
    /// `/v1.41`: the negotiated API version.
    prefix: String,
}

enum Transport {
    Unix {
        socket: PathBuf,
        client: Client<UnixConnector, Empty<Bytes>>,
    },
    Tcp {
        authority: String,
        client: Client<HttpConnector, Empty<Bytes>>,
    },
}

/// The engine's error body: `{"message": "…"}` (Podman adds `cause` and `response`).
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

impl RawClient {
    pub(super) fn new(endpoint: &Endpoint, api_version: &str) -> Self {
        let mut builder = Client::builder(TokioExecutor::new());
        // No idle connections kept, as bollard does: an engine restart leaves none stale.
        builder.pool_max_idle_per_host(0);
        let transport = match endpoint {
            Endpoint::Unix(path) => Transport::Unix {
                socket: PathBuf::from(path),
                client: builder.build(UnixConnector),
            },
            Endpoint::Tcp(authority) => Transport::Tcp {
                authority: authority.clone(),
                client: builder.build(HttpConnector::new()),
            },
        };
        Self {
            transport,
            prefix: format!("/v{api_version}"),
        }
    }

    /// GETs `path_and_query` (which starts with `/` and holds only checked references) under
    /// the API version prefix and parses the JSON answer.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, BollardError> {
        let path = format!("{}{path_and_query}", self.prefix);
        let (uri, response) = match &self.transport {
            Transport::Unix { socket, client } => {
                let uri: hyper::Uri = hyperlocal::Uri::new(socket, &path).into();
                (uri.clone(), client.request(get(uri)?).await?)
            }
            Transport::Tcp { authority, client } => {
                let uri: hyper::Uri = format!("http://{authority}{path}").parse()?;
                (uri.clone(), client.request(get(uri)?).await?)
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .map(|b| b.message)
                .unwrap_or_else(|_| {
                    let text = String::from_utf8_lossy(&body);
                    format!(
                        "{} (from {})",
                        text.chars().take(200).collect::<String>(),
                        uri.path()
                    )
                });
            return Err(BollardError::DockerResponseServerError {
                status_code: status.as_u16(),
                message,
            });
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

fn get(uri: hyper::Uri) -> Result<Request<Empty<Bytes>>, BollardError> {
    Ok(Request::get(uri)
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::new())?)
}
