//! Sync (design §5): the wire protocol shared by the device client and the sync server.
//! The client and the server's handling build on these messages (issue 3).

pub mod codec;
pub mod protocol;
