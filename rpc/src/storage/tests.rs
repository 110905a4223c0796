use super::*;

fn cost() -> (B256, TxCost) {
    let cost = TxCost {
        gas_used: 21_000,
        instructions: 0x0102_0304,
        cycles: 5,
        stable_bytes_written: 6,
        breakdown: None,
    };
    (B256::repeat_byte(0xab), cost)
}

#[test]
fn cost_records_are_pinned() {
    let (hash, cost) = cost();
    let hex = alloy_primitives::hex::encode(encode_cost(hash, &cost));
    assert_eq!(
        hex,
        format!(
            "{}{}{}{}{}",
            "ab".repeat(32),
            "0852000000000000",
            "0403020100000000",
            "05000000000000000000000000000000",
            "0600000000000000"
        )
    );
    assert_eq!(decode_cost(&encode_cost(hash, &cost)), Some((hash, cost)));
    assert_eq!(&COSTS.header()[..], b"CEVMCOST\x02\x00\x00\x00");

    // With the phases: the same fields, then the seven phases in order.
    let breakdown = CostBreakdown {
        decoding: 1,
        sender_recovery: 2,
        validation: 3,
        evm_execution: 4,
        state_write: 5,
        block_seal: 6,
        other: 0x0102_02ef,
    };
    let cost = TxCost { breakdown: Some(breakdown), ..cost };
    let record = encode_cost(hash, &cost);
    assert_eq!(record.len(), 128);
    let mut tail = String::new();
    for phase in 1..=6 {
        tail += &format!("{phase:02x}00000000000000");
    }
    tail += "ef02020100000000";
    assert_eq!(alloy_primitives::hex::encode(&record[72..]), tail);
    assert_eq!(decode_cost(&record), Some((hash, cost)));
    assert_eq!(decode_cost(&record[..100]), None);
}

#[test]
fn a_damaged_ledger_is_refused_and_a_torn_one_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("costs");
    let (hash, cost) = cost();
    let mut bytes = COSTS.header().to_vec();
    for _ in 0..3 {
        bytes.extend_from_slice(&frames::encode(&encode_cost(hash, &cost)));
    }
    fs::write(&path, &bytes).unwrap();
    assert_eq!(read_costs(&path, None).unwrap().len(), 1);
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x04;
        fs::write(&path, &flipped).unwrap();
        let error = read_costs(&path, None).err();
        assert!(error.is_some(), "a flip at byte {at} went unnoticed");
    }
    fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
    assert_eq!(read_costs(&path, None).unwrap().len(), 1);
    assert_eq!(fs::read(&path).unwrap().len(), bytes.len() - (12 + COST_RECORD));
}

#[test]
fn a_ledger_shorter_than_at_the_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("costs");
    let (hash, cost) = cost();
    let mut bytes = COSTS.header().to_vec();
    bytes.extend_from_slice(&frames::encode(&encode_cost(hash, &cost)));
    fs::write(&path, &bytes).unwrap();
    let len = bytes.len() as u64;
    assert_eq!(read_costs(&path, Some(len)).unwrap().len(), 1);
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let error = read_costs(&path, Some(len)).unwrap_err().to_string();
    assert!(error.contains("is truncated"), "{error}");
}

#[test]
fn node_data_is_pinned() {
    let data = NodeData { last_time: 1, costs_len: Some(2) };
    assert_eq!(alloy_primitives::hex::encode(data.encode()), "01000000000000000200000000000000");
    assert_eq!(NodeData::parse(&data.encode()).unwrap(), data);
    let v1 = NodeData::parse(&7u64.to_le_bytes()).unwrap();
    assert_eq!(v1, NodeData { last_time: 7, costs_len: None });
}

#[test]
fn a_version_1_ledger_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("costs");
    let (hash, cost) = cost();
    let body = encode_cost(hash, &cost);
    let mut v1 = body.clone();
    v1.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    fs::write(&path, &v1).unwrap();
    assert_eq!(read_costs(&path, None).unwrap()[&hash], cost);
    assert!(COSTS.recognises(&fs::read(&path).unwrap()));
    assert_eq!(read_costs(&path, None).unwrap()[&hash], cost);
}
