//! Urgent data through the socket calls, with Linux's answers: `send(MSG_OOB)`,
//! `recv(MSG_OOB)`, `SIOCATMARK`; `SO_OOBINLINE` is an option (`SockOpt::OobInline`) and
//! `POLLPRI` part of [`crate::Readiness`]. The connection keeps the mark and the byte (see
//! `synack_proto::UrgentByte`); what is decided here is which errno each case is.

use synack_proto::UrgentByte;

use crate::{SocketError, SocketId, SocketResult, SocketTable};

impl SocketTable {
    /// `send(MSG_OOB)`: writes what fits of `data` and makes its last byte taken the end of
    /// the urgent data (RFC 9293 §3.10.2). Bytes a cork holds go first, as they were
    /// written first.
    pub fn write_urgent(&mut self, id: SocketId, data: &[u8]) -> SocketResult<usize> {
        let conn = self.writable(id)?;
        self.flush_held(id)?;
        if !self.sock(id)?.held.is_empty() {
            self.sock_mut(id)?.no_space = true;
            return Err(SocketError::WouldBlock);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let r = self.host.send_urgent(conn, data);
        self.pump();
        let r = r.map_err(SocketError::from);
        if matches!(r, Err(SocketError::WouldBlock)) || matches!(r, Ok(n) if n < data.len()) {
            self.sock_mut(id)?.no_space = true;
        }
        r
    }

    /// `recv(MSG_OOB)` (with `peek`, `MSG_OOB | MSG_PEEK`): the out-of-band byte, `None` for
    /// end of stream (a FIN came before the byte, or reading was shut down). As on Linux:
    /// `InvalidInput` (EINVAL) with `SO_OOBINLINE` set, when no urgent data is announced, or
    /// when its byte was taken already; `WouldBlock` (EAGAIN) when it is announced but has
    /// not arrived, whether or not the socket blocks (such a call never waits).
    pub fn read_urgent(&mut self, id: SocketId, peek: bool) -> SocketResult<Option<u8>> {
        let conn = self.conn_id(id)?;
        let s = self.sock(id)?;
        if s.opts.config.urgent_inline {
            return Err(SocketError::InvalidInput);
        }
        let shut_rd = s.shut_rd;
        let byte = if peek {
            self.host.urgent_byte(conn)?
        } else {
            self.host.take_urgent_byte(conn)?
        };
        match byte {
            UrgentByte::None | UrgentByte::Taken => Err(SocketError::InvalidInput),
            UrgentByte::Ready(b) => Ok(Some(b)),
            UrgentByte::Ended => Ok(None),
            UrgentByte::Pending if shut_rd => Ok(None),
            UrgentByte::Pending => Err(SocketError::WouldBlock),
        }
    }

    /// `SIOCATMARK`: whether the next read starts at the last urgent byte. False on a socket
    /// with no connection, as on Linux.
    pub fn at_urgent_mark(&self, id: SocketId) -> SocketResult<bool> {
        Ok(match self.conn_id(id) {
            Ok(conn) => self.host.at_urgent_mark(conn).unwrap_or(false),
            Err(_) => {
                self.sock(id)?;
                false
            }
        })
    }

    /// Whether all that is queued to read is the urgent byte held apart (no `SO_OOBINLINE`)
    /// at the head of the stream, with more to come (the peer has not closed).
    pub(crate) fn urgent_byte_alone(
        &self,
        id: SocketId,
        conn: synack_proto::host::ConnId,
    ) -> SocketResult<bool> {
        if self.sock(id)?.opts.config.urgent_inline || !self.host.at_urgent_mark(conn)? {
            return Ok(false);
        }
        let info = self.host.info(conn)?;
        let open = matches!(
            info.state,
            synack_proto::StateName::Established
                | synack_proto::StateName::FinWait1
                | synack_proto::StateName::FinWait2
        );
        Ok(open && info.recv_buffered == 1)
    }

    /// Whether an out-of-band byte waits to be read (`POLLPRI`): Linux reports it from the
    /// byte's arrival until the reader passes the mark, with `SO_OOBINLINE` too.
    pub(crate) fn urgent_ready(&self, conn: synack_proto::host::ConnId) -> bool {
        matches!(self.host.urgent_byte(conn), Ok(UrgentByte::Ready(_)))
    }
}
