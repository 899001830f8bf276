//! Two stacks on an in-process link with one connection between them, for the tests that
//! watch a single stream's calls.

use synack::Stack;
use synack::device::{Link, LinkConfig};
use synack::net::{TcpListener, TcpStream};

use crate::common::{CLIENT, SERVER, config};

/// A connected pair of blocking streams between two stacks: (client, server). The stacks
/// come back too: the streams live only as long as they do.
pub fn connected(port: u16) -> (TcpStream, TcpStream, (Stack, Stack)) {
    let (a, b) = Link::pair(LinkConfig::default()).unwrap();
    let client = Stack::new(a, config(CLIENT)).unwrap();
    let server = Stack::new(b, config(SERVER)).unwrap();
    let listener = TcpListener::bind(&server, (SERVER, port)).unwrap();
    let c = TcpStream::connect(&client, (SERVER, port)).unwrap();
    let (s, _) = listener.accept().unwrap();
    (c, s, (client, server))
}
