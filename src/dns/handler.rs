//! One DNS request in, one response out: decoding, answering from the cluster zone or through
//! the upstream forwarder, and encoding within the transport's size limit.
//!
//! Contract of [`respond`]:
//! - packets shorter than a header, and responses (QR set), get no reply (no reflection loops);
//! - undecodable queries get FORMERR built from the raw header; opcodes other than QUERY get
//!   NOTIMP; anything but exactly one question gets FORMERR; EDNS versions above 0 get BADVERS;
//!   classes other than IN, and zone transfers, get REFUSED / NOTIMP;
//! - cluster names are answered authoritatively (AA); others are forwarded (RA), SERVFAIL when
//!   every upstream failed; an ExternalName CNAME is followed upstream when the target is external;
//! - an EDNS query gets an OPT record back; over UDP the reply fits the client's EDNS buffer
//!   (512 bytes without EDNS, at most [`MAX_UDP_PAYLOAD`]): additional records are dropped first,
//!   then trailing answers with TC set, so the client retries over TCP.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use super::records::Records;
use super::upstream::{Upstream, EDNS_PAYLOAD};

/// Largest UDP reply sent whatever the client offers: beyond this fragmentation starts to bite.
pub const MAX_UDP_PAYLOAD: usize = 4096;
const HEADER_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A minimal reply built from the raw header, for queries that cannot be decoded.
fn raw_error(packet: &[u8], rcode: ResponseCode) -> Option<Vec<u8>> {
    if packet.len() < HEADER_LEN || packet[2] & 0x80 != 0 {
        return None;
    }
    let mut h = vec![0u8; HEADER_LEN];
    h[..2].copy_from_slice(&packet[..2]);
    // QR, the query's opcode and RD; RA; the rcode's low bits. Counts stay zero.
    h[2] = 0x80 | (packet[2] & 0x79);
    h[3] = 0x80 | (rcode.low() & 0x0f);
    Some(h)
}

fn reply_to(req: &Message) -> Message {
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    resp.metadata.recursion_available = true;
    resp.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        resp.set_edns(edns);
    }
    resp
}

fn limit(req: &Message, transport: Transport) -> usize {
    match transport {
        Transport::Tcp => u16::MAX as usize,
        // max_payload() is 512 without EDNS and never below it.
        Transport::Udp => (req.max_payload() as usize).min(MAX_UDP_PAYLOAD),
    }
}

/// Encode `msg` in at most `limit` bytes (see the module contract for what gets dropped).
pub fn encode_within(msg: &Message, limit: usize) -> Option<Vec<u8>> {
    let full = msg.to_vec().ok()?;
    if full.len() <= limit {
        return Some(full);
    }
    // RFC 2181 §9: dropping additional data alone does not set TC.
    let mut m = msg.clone();
    m.additionals.clear();
    let bytes = m.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    m.authorities.clear();
    m.metadata.truncation = true;
    let answers = std::mem::take(&mut m.answers);
    // Largest prefix of the answers that fits, by bisection (lo always fits).
    let (mut lo, mut hi) = (0, answers.len());
    let mut best = None;
    while lo <= hi {
        let mid = (lo + hi) / 2;
        m.answers = answers[..mid].to_vec();
        match m.to_vec() {
            Ok(b) if b.len() <= limit => {
                best = Some(b);
                lo = mid + 1;
            }
            _ if mid == 0 => break,
            _ => hi = mid - 1,
        }
    }
    best
}

/// The reply to `packet`, `None` when it must be dropped.
pub async fn respond(
    packet: &[u8],
    records: &Records,
    upstream: &Upstream,
    transport: Transport,
) -> Option<Vec<u8>> {
    let Ok(req) = Message::from_vec(packet) else {
        return raw_error(packet, ResponseCode::FormErr);
    };
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut resp = reply_to(&req);
    let max = limit(&req, transport);
    let fail = |mut resp: Message, rcode| {
        resp.metadata.response_code = rcode;
        encode_within(&resp, max)
    };
    if req.metadata.op_code != OpCode::Query {
        return fail(resp, ResponseCode::NotImp);
    }
    if req.edns.as_ref().is_some_and(|e| e.version() > 0) {
        return fail(resp, ResponseCode::BADVERS);
    }
    let [q] = req.queries.as_slice() else {
        return fail(resp, ResponseCode::FormErr);
    };
    if q.query_class() != DNSClass::IN {
        return fail(resp, ResponseCode::Refused);
    }
    if matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR) {
        return fail(resp, ResponseCode::NotImp);
    }
    match records.lookup(q.name(), q.query_type()) {
        Some(answer) => {
            resp.metadata.authoritative = true;
            resp.metadata.response_code = answer.rcode;
            resp.answers = answer.answers;
            resp.authorities = answer.authorities;
            resp.additionals = answer.additionals;
            if let Some(target) = answer.chase {
                chase(&mut resp, upstream, Query::query(target, q.query_type())).await;
            }
        }
        None => match upstream.resolve(q).await {
            Ok(r) => {
                resp.metadata.response_code = r.rcode;
                resp.answers = r.answers;
                resp.authorities = r.authorities;
                resp.additionals = r.additionals;
            }
            Err(_) => resp.metadata.response_code = ResponseCode::ServFail,
        },
    }
    encode_within(&resp, max)
}

/// Append the upstream's answer for an ExternalName target; on failure the CNAME alone stands
/// and the client may resolve the target itself.
async fn chase(resp: &mut Message, upstream: &Upstream, q: Query) {
    if let Ok(r) = upstream.resolve(&q).await {
        resp.answers.extend(r.answers);
        if r.rcode == ResponseCode::NXDomain {
            resp.metadata.response_code = r.rcode;
            resp.authorities = r.authorities;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record};

    use super::*;

    fn query(name: &str, t: RecordType, edns: Option<u16>) -> Message {
        let mut m = Message::query();
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_str(name).unwrap(), t));
        if let Some(p) = edns {
            let mut e = Edns::new();
            e.set_max_payload(p);
            m.set_edns(e);
        }
        m
    }

    fn ask(m: &Message, transport: Transport) -> Message {
        let records = Records::build(
            "cluster.local",
            &super::super::records::tests::fixture_services(),
            &super::super::records::tests::fixture_slices(),
        );
        let up = Upstream::new(vec![]);
        let out = smol::block_on(respond(&m.to_vec().unwrap(), &records, &up, transport));
        Message::from_vec(&out.expect("a reply")).unwrap()
    }

    #[test]
    fn authoritative_answer_echoes_header_and_edns() {
        let q = query("web.default.svc.cluster.local.", RecordType::A, Some(1232));
        let r = ask(&q, Transport::Udp);
        assert_eq!(r.metadata.id, q.metadata.id);
        assert!(r.metadata.authoritative && r.metadata.recursion_desired);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.edns.as_ref().map(Edns::max_payload), Some(EDNS_PAYLOAD));
        let plain = ask(
            &query("web.default.svc.cluster.local.", RecordType::A, None),
            Transport::Udp,
        );
        assert!(plain.edns.is_none());
    }

    #[test]
    fn errors_without_crashing() {
        let records = Records::empty("cluster.local");
        let up = Upstream::new(vec![]);
        let run = |p: &[u8]| smol::block_on(respond(p, &records, &up, Transport::Udp));
        assert_eq!(run(b"short"), None);
        let garbage = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        let formerr = run(&garbage).unwrap();
        let m = Message::from_vec(&formerr).unwrap();
        assert_eq!(m.metadata.id, 0x1234);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert!(m.metadata.recursion_desired);
        // A response is never answered.
        let mut resp = query("a.", RecordType::A, None);
        resp.metadata.message_type = MessageType::Response;
        assert_eq!(run(&resp.to_vec().unwrap()), None);
        let mut two = query("a.", RecordType::A, None);
        two.add_query(Query::query(Name::from_str("b.").unwrap(), RecordType::A));
        let m = Message::from_vec(&run(&two.to_vec().unwrap()).unwrap()).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        let mut update = query("a.", RecordType::A, None);
        update.metadata.op_code = OpCode::Update;
        let m = Message::from_vec(&run(&update.to_vec().unwrap()).unwrap()).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
        // Forwarding without upstreams: SERVFAIL.
        let m = Message::from_vec(
            &run(&query("example.com.", RecordType::A, None).to_vec().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    }

    #[test]
    fn udp_replies_fit_the_buffer_and_set_tc() {
        let name = Name::from_str("big.example.").unwrap();
        let mut m = reply_to(&query("big.example.", RecordType::A, None));
        for i in 0..100u8 {
            let a = RData::A(A(Ipv4Addr::new(10, 0, 0, i)));
            m.answers.push(Record::from_rdata(name.clone(), 5, a));
        }
        let full = encode_within(&m, 65535).unwrap();
        assert!(full.len() > 512);
        let cut = Message::from_vec(&encode_within(&m, 512).unwrap()).unwrap();
        assert!(cut.metadata.truncation);
        assert!(!cut.answers.is_empty() && cut.answers.len() < 100);
        assert!(cut.to_vec().unwrap().len() <= 512);
        // Only additionals dropped: no TC.
        let mut extra = reply_to(&query("big.example.", RecordType::A, None));
        extra.answers = m.answers[..2].to_vec();
        extra.additionals = m.answers.clone();
        let r = Message::from_vec(&encode_within(&extra, 512).unwrap()).unwrap();
        assert!(!r.metadata.truncation);
        assert_eq!((r.answers.len(), r.additionals.len()), (2, 0));
        // EDNS buffer size is honoured: a 4096-byte client gets everything over UDP.
        let big_q = query("big.example.", RecordType::A, Some(4096));
        assert_eq!(limit(&big_q, Transport::Udp), 4096);
        assert_eq!(
            limit(&query("a.", RecordType::A, Some(100)), Transport::Udp),
            512
        );
    }
}
