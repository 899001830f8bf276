//! The socket options and queries a connected stream offers, the same on the blocking
//! `net::TcpStream` and the async `tokio::TcpStream`: written once here and stamped into
//! both, so the two cannot drift apart. Each call locks the stack, asks the host,
//! and kicks the driver when the change may let something go out at once.
//!
//! The type that invokes [`stream_options!`] supplies `fn shared(&self) -> &Shared` and
//! `fn id(&self) -> SocketId`.

macro_rules! stream_options {
    () => {
        pub fn peer_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
            Ok(self.shared().lock().addrs(self.id())?.1)
        }

        pub fn local_addr(&self) -> ::std::io::Result<::std::net::SocketAddr> {
            Ok(self.shared().lock().addrs(self.id())?.0)
        }

        /// Turns Nagle's algorithm off or on (`TCP_NODELAY`, RFC 1122 §4.2.3.4).
        pub fn set_nodelay(&self, nodelay: bool) -> ::std::io::Result<()> {
            self.set_option(::synack_socket::SockOpt::NoDelay(nodelay))
        }

        pub fn nodelay(&self) -> ::std::io::Result<bool> {
            self.shared().lock().nodelay(self.id())
        }

        pub fn linger(&self) -> ::std::io::Result<Option<::std::time::Duration>> {
            self.shared().lock().linger(self.id())
        }

        /// Keepalive probes after `idle` without traffic (RFC 1122 §4.2.3.6), with the default
        /// interval and count; `None` turns them off.
        pub fn set_keepalive(&self, idle: Option<::std::time::Duration>) -> ::std::io::Result<()> {
            let r = self.shared().lock().set_keepalive(self.id(), idle);
            self.shared().kick();
            r
        }

        /// Sets the receive buffer's size (`SO_RCVBUF`), open or not: the most received data
        /// the connection holds, and so the most window it offers. A size set is kept
        /// (auto-tuning no longer grows it); on an open connection the window follows the new
        /// free space within the window scale agreed on the SYN. 0, or more than `i32::MAX`
        /// (what the system call could say), is `InvalidInput`.
        pub fn set_recv_buffer_size(&self, size: usize) -> ::std::io::Result<()> {
            self.set_option(::synack_socket::SockOpt::RecvBuffer(size))
        }

        /// The receive buffer's size now (auto-tuning may have grown it from the size set).
        pub fn recv_buffer_size(&self) -> ::std::io::Result<usize> {
            self.shared().lock().buffer_size(self.id(), true)
        }

        /// Sets the send buffer's size (`SO_SNDBUF`): the most unacknowledged data the
        /// connection takes from writes. Data queued beyond a smaller size stays and is sent;
        /// writes wait until the queue is below it. 0, or more than `i32::MAX`, is
        /// `InvalidInput`.
        pub fn set_send_buffer_size(&self, size: usize) -> ::std::io::Result<()> {
            self.set_option(::synack_socket::SockOpt::SendBuffer(size))
        }

        /// The send buffer's size now (auto-tuning may have grown it from the size set).
        pub fn send_buffer_size(&self) -> ::std::io::Result<usize> {
            self.shared().lock().buffer_size(self.id(), false)
        }

        /// Switches the congestion controller (`TCP_CONGESTION`). An open connection keeps its
        /// congestion window and slow-start threshold: the new controller goes on from the
        /// window the path was found to take.
        pub fn set_congestion(
            &self,
            controller: $crate::CongestionControl,
        ) -> ::std::io::Result<()> {
            self.set_option(::synack_socket::SockOpt::Congestion(controller))
        }

        pub fn congestion(&self) -> ::std::io::Result<$crate::CongestionControl> {
            self.shared().lock().congestion(self.id())
        }

        /// The error that ended the connection, if not yet reported by another call
        /// (`SO_ERROR`).
        pub fn take_error(&self) -> ::std::io::Result<Option<::std::io::Error>> {
            Ok(self
                .shared()
                .lock()
                .take_error(self.id())?
                .map($crate::error::conn_error))
        }

        /// The connection's STATUS (RFC 9293 §3.10.6), like Linux's `TCP_INFO`: state, cwnd,
        /// RTT estimates, retransmissions.
        pub fn info(&self) -> ::std::io::Result<$crate::Info> {
            self.shared().lock().info(self.id())
        }

        /// Reads the out-of-band byte: the last byte of the urgent data the peer sent
        /// (`recv(MSG_OOB)`, RFC 9293 §3.8.5), held apart from the stream unless
        /// [`set_out_of_band_inline`](Self::set_out_of_band_inline) is on. `None` is end of
        /// stream (the peer closed before the byte came). Never waits: `WouldBlock` when the
        /// urgent data is announced but its byte has not arrived, `InvalidInput` when no
        /// urgent data is announced, its byte was read already, or inline mode is on. An
        /// ordinary read stops at the mark, so [`at_mark`](Self::at_mark) tells when the
        /// byte is next.
        pub fn recv_out_of_band(&self) -> ::std::io::Result<Option<u8>> {
            let r = self.shared().lock().read_urgent(self.id(), false);
            self.shared().kick();
            r
        }

        /// Like [`recv_out_of_band`](Self::recv_out_of_band) (`MSG_OOB | MSG_PEEK`), but the
        /// byte stays to be read again.
        pub fn peek_out_of_band(&self) -> ::std::io::Result<Option<u8>> {
            self.shared().lock().read_urgent(self.id(), true)
        }

        /// Whether the next ordinary read starts at the urgent mark (`SIOCATMARK`): the byte
        /// after the stream's last urgent byte is the next a read returns. False with no
        /// urgent data pending.
        pub fn at_mark(&self) -> ::std::io::Result<bool> {
            self.shared().lock().at_mark(self.id())
        }

        /// `SO_OOBINLINE`: on, the out-of-band byte stays in the stream and ordinary reads
        /// return it (still stopping at the mark); off (the default), it is held apart for
        /// [`recv_out_of_band`](Self::recv_out_of_band).
        pub fn set_out_of_band_inline(&self, inline: bool) -> ::std::io::Result<()> {
            self.set_option(::synack_socket::SockOpt::OobInline(inline))
        }

        pub fn out_of_band_inline(&self) -> ::std::io::Result<bool> {
            self.shared().lock().out_of_band_inline(self.id())
        }

        /// Sets one option and kicks the driver: a larger window or a controller switch may let
        /// something go out at once.
        fn set_option(&self, option: ::synack_socket::SockOpt) -> ::std::io::Result<()> {
            let r = self.shared().lock().set_option(self.id(), option);
            self.shared().kick();
            r
        }
    };
}

pub(crate) use stream_options;
