//! The floor: a minimal monoio + httparse HTTP/1.1 server answering every request with the
//! same tiny response, keep-alive and pipelining included. One thread, the current core.
//!
//! `minimal-server ADDR [uring|uring-default|epoll]`

use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9191".into());
    let driver = args.next().unwrap_or_else(|| "uring".into());
    match driver.as_str() {
        "epoll" => {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .expect("epoll runtime");
            rt.block_on(serve(addr));
        }
        other => {
            let mut urb = io_uring::IoUring::builder();
            if other != "uring-default" {
                urb.setup_coop_taskrun().setup_single_issuer().setup_defer_taskrun();
            }
            let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .with_entries(4096)
                .uring_builder(urb)
                .enable_timer()
                .build()
                .expect("io_uring runtime");
            rt.block_on(serve(addr));
        }
    }
}

async fn serve(addr: String) {
    let listener =
        TcpListener::bind_with_config(addr.as_str(), &ListenerOpts::new().reuse_port(true)).expect("bind");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                monoio::spawn(connection(stream));
            }
            Err(_) => monoio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

async fn connection(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut rbuf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut wbuf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        // A Vec given to a rent read is filled from its start: read into the spare capacity.
        let len = rbuf.len();
        let (res, slice) = stream.read(rbuf.slice_mut(len..)).await;
        rbuf = slice.into_inner();
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut pos = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&rbuf[pos..]) {
                Ok(httparse::Status::Complete(n)) => {
                    pos += n;
                    wbuf.extend_from_slice(RESPONSE);
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            }
        }
        rbuf.drain(..pos);
        if !wbuf.is_empty() {
            let (res, buf) = stream.write_all(wbuf).await;
            wbuf = buf;
            wbuf.clear();
            if res.is_err() {
                return;
            }
        }
    }
}
