//! The ADS stream's HTTP/2 side, written so that a push costs each stream a few hundred bytes,
//! not a copy of the rule set.
//!
//! tonic's generated server encodes every response into a buffer of the stream's own and keeps
//! that buffer's allocation for the stream's life (`BytesMut::split_to` shares it; the next
//! `reserve` reclaims it). A version of 10,000 rules encodes to 3.5 MB, so each connected data
//! plane held 3.5 MB of the control plane's memory after the first push: measured with
//! `xds-converge 10000 300 sim-remote`, 3.6 MB per stream, 7 GB for 2,000 data planes; and each
//! push copied the rule set once per stream.
//!
//! This service decodes requests as tonic does ([`Streaming`]) and runs the same
//! [`AdsServer`] logic, but frames each [`DiscoveryResponse`] itself: a small head (the gRPC
//! frame header, the response's own fields, each resource's type URL and length prefix) followed
//! by the resource's bytes as they are in the snapshot, a reference-counted [`Bytes`] shared by
//! every stream. Protobuf does not care about field order, so the head may carry the resources'
//! fields last; the data plane decodes the same message.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::Frame;
use mockplane_proto::discovery::aggregated_discovery_service_server::AggregatedDiscoveryService;
use mockplane_proto::discovery::{DiscoveryRequest, DiscoveryResponse};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;
use tokio_stream::Stream;
use tonic::codec::{Codec, Streaming};
use tonic::server::NamedService;
use tonic::Status;

use super::AdsServer;
use crate::limits::MAX_PUSH_BYTES;

/// The one method served.
const STREAM_PATH: &str = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/// `DiscoveryResponse.resources` is field 2; `Any.value` is field 2.
const RESOURCES_FIELD: u32 = 2;
const ANY_VALUE_FIELD: u32 = 2;

/// [`AdsServer`] as an HTTP service for tonic's router, framing pushes without copying them.
#[derive(Debug, Clone)]
pub(crate) struct AdsService {
    ads: AdsServer,
    max_decoding_message_size: usize,
}

impl AdsService {
    pub(crate) fn new(ads: AdsServer, max_decoding_message_size: usize) -> Self {
        AdsService { ads, max_decoding_message_size }
    }
}

impl NamedService for AdsService {
    const NAME: &'static str = "envoy.service.discovery.v3.AggregatedDiscoveryService";
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send>>;

impl tower_service::Service<http::Request<tonic::body::Body>> for AdsService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> ResponseFuture {
        let service = self.clone();
        Box::pin(async move { Ok(service.answer(request).await) })
    }
}

impl AdsService {
    async fn answer(self, request: http::Request<tonic::body::Body>) -> http::Response<tonic::body::Body> {
        if request.uri().path() != STREAM_PATH {
            return Status::unimplemented(format!(
                "{} is not served: this control plane serves StreamAggregatedResources (state of the world)",
                request.uri().path()
            ))
            .into_http();
        }
        if let Some(encoding) = request.headers().get("grpc-encoding").filter(|e| e.as_bytes() != b"identity")
        {
            return Status::unimplemented(format!(
                "grpc-encoding {encoding:?} is not supported: send uncompressed messages"
            ))
            .into_http();
        }
        let (parts, body) = request.into_parts();
        let decoder = tonic_prost::ProstCodec::<DiscoveryResponse, DiscoveryRequest>::default().decoder();
        let inbound = Streaming::new_request(decoder, body, None, Some(self.max_decoding_message_size));
        let request = tonic::Request::from_http(http::Request::from_parts(parts, inbound));
        match self.ads.stream_aggregated_resources(request).await {
            Ok(response) => {
                let body =
                    PushBody { responses: response.into_inner(), chunks: VecDeque::new(), ended: false };
                let mut http = http::Response::new(tonic::body::Body::new(body));
                http.headers_mut()
                    .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/grpc"));
                http
            }
            Err(status) => status.into_http(),
        }
    }
}

/// A stream's responses as gRPC frames, then its status as trailers.
struct PushBody {
    responses: super::ResponseStream,
    /// What is left of the response being sent.
    chunks: VecDeque<Bytes>,
    ended: bool,
}

impl http_body::Body for PushBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if let Some(chunk) = this.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if this.ended {
            return Poll::Ready(None);
        }
        let status = match ready!(Pin::new(&mut this.responses).poll_next(cx)) {
            Some(Ok(response)) => match frame(&response) {
                Ok(chunks) => {
                    this.chunks = chunks;
                    let first = this.chunks.pop_front().expect("a frame has a head");
                    return Poll::Ready(Some(Ok(Frame::data(first))));
                }
                Err(status) => status,
            },
            Some(Err(status)) => status,
            None => Status::ok(""),
        };
        this.ended = true;
        let mut trailers = http::HeaderMap::new();
        if let Err(unencodable) = status.add_header(&mut trailers) {
            trailers.clear();
            let _ = Status::internal(unencodable.message().to_owned()).add_header(&mut trailers);
        }
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

/// `response` as one gRPC message: a head of everything but the resources' values, then each
/// value as the shared bytes it is (with the next resource's head in between, if any). A message
/// over [`MAX_PUSH_BYTES`] (which data planes would refuse) ends the stream instead.
fn frame(response: &DiscoveryResponse) -> Result<VecDeque<Bytes>, Status> {
    let shell = DiscoveryResponse {
        version_info: response.version_info.clone(),
        resources: Vec::new(),
        canary: response.canary,
        type_url: response.type_url.clone(),
        nonce: response.nonce.clone(),
    };
    let heads: Vec<(BytesMut, &Bytes)> = response
        .resources
        .iter()
        .map(|any| {
            let named = mockplane_proto::wkt::Any { type_url: any.type_url.clone(), value: Bytes::new() };
            let value = &any.value;
            let value_field = if value.is_empty() {
                0
            } else {
                key_len(ANY_VALUE_FIELD) + encoded_len_varint(value.len() as u64)
            };
            let any_len = named.encoded_len() + value_field + value.len();
            let mut head = BytesMut::with_capacity(16 + any_len - value.len());
            encode_key(RESOURCES_FIELD, WireType::LengthDelimited, &mut head);
            encode_varint(any_len as u64, &mut head);
            named.encode(&mut head).expect("a BytesMut grows");
            if !value.is_empty() {
                encode_key(ANY_VALUE_FIELD, WireType::LengthDelimited, &mut head);
                encode_varint(value.len() as u64, &mut head);
            }
            (head, value)
        })
        .collect();
    let message_len = shell.encoded_len() + heads.iter().map(|(h, v)| h.len() + v.len()).sum::<usize>();
    if message_len > MAX_PUSH_BYTES {
        return Err(Status::resource_exhausted(format!(
            "version {} encodes to {message_len} bytes, more than the {MAX_PUSH_BYTES} a push may carry",
            response.version_info
        )));
    }
    let mut first = BytesMut::with_capacity(5 + shell.encoded_len());
    first.put_u8(0); // not compressed
    first.put_u32(message_len as u32);
    shell.encode(&mut first).expect("a BytesMut grows");
    let mut chunks = VecDeque::with_capacity(1 + 2 * heads.len());
    let mut pending = first;
    for (head, value) in heads {
        pending.extend_from_slice(&head);
        chunks.push_back(std::mem::take(&mut pending).freeze());
        if !value.is_empty() {
            chunks.push_back(value.clone());
        }
    }
    if !pending.is_empty() {
        chunks.push_back(pending.freeze());
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(values: &[&[u8]]) -> DiscoveryResponse {
        DiscoveryResponse {
            version_info: "v7".into(),
            resources: values
                .iter()
                .map(|v| mockplane_proto::wkt::Any {
                    type_url: mockplane_proto::RULE_SET_TYPE_URL.into(),
                    value: Bytes::copy_from_slice(v),
                })
                .collect(),
            canary: false,
            type_url: mockplane_proto::RULE_SET_TYPE_URL.into(),
            nonce: "3-1".into(),
        }
    }

    fn joined(chunks: &VecDeque<Bytes>) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    #[test]
    fn a_framed_response_decodes_to_the_same_response() {
        for values in [&[][..], &[&b"rules"[..]], &[&b""[..]], &[&b"one"[..], &[7u8; 300][..]]] {
            let original = response(values);
            let bytes = joined(&frame(&original).unwrap());
            assert_eq!(bytes[0], 0, "not compressed");
            let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
            assert_eq!(len, bytes.len() - 5, "the frame header gives the message's length");
            let decoded = DiscoveryResponse::decode(&bytes[5..]).expect("the data plane decodes it");
            assert_eq!(decoded, original);
        }
    }

    #[test]
    fn a_resource_is_sent_as_the_shared_bytes_not_a_copy() {
        let original = response(&[&[1u8; 4096][..]]);
        let chunks = frame(&original).unwrap();
        let value = &original.resources[0].value;
        assert!(
            chunks.iter().any(|c| c.as_ptr() == value.as_ptr() && c.len() == value.len()),
            "one chunk is the snapshot's own buffer"
        );
    }
}
