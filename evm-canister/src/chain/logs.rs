//! Logs (`eth_getLogs`) and fee history (`eth_feeHistory`).

use alloy_consensus::ReceiptEnvelope;
use alloy_eips::eip1559::BaseFeeParams;
use alloy_eips::eip2718::Decodable2718;
use alloy_rpc_types_eth::Filter;
use evm_canister_api::{BlockTag, FeeHistory, LogFilter, LogView, QueryError, Wei};
use ic_stable_structures::Memory;

use super::{Chain, MAX_FEE_HISTORY_BLOCKS, MAX_LOG_BLOCK_RANGE, MAX_LOGS};

impl<M: Memory> Chain<M> {
    /// Logs matching `filter`, in chain order.
    pub fn logs(&self, filter: &LogFilter) -> Result<Vec<LogView>, QueryError> {
        let (from, to) = match filter.block_hash {
            Some(hash) => {
                if filter.from_block.is_some() || filter.to_block.is_some() {
                    return Err(QueryError::InvalidArgument(
                        "cannot specify both blockHash and fromBlock/toBlock".to_owned(),
                    ));
                }
                let number = self.resolve(BlockTag::Hash(hash))?;
                (number, number)
            }
            None => {
                // Numbers past the head are allowed: nothing is there yet.
                let number = |tag: Option<BlockTag>| match tag {
                    Some(BlockTag::Number(n)) => Ok(n),
                    other => self.resolve(other.unwrap_or(BlockTag::Latest)),
                };
                (number(filter.from_block)?, number(filter.to_block)?)
            }
        };
        if from > to {
            return Err(QueryError::InvalidArgument("invalid block range params".to_owned()));
        }
        let to = to.min(self.meta.get().head_number);
        if from > to {
            return Ok(Vec::new());
        }
        let max_blocks = filter.max_blocks.unwrap_or(MAX_LOG_BLOCK_RANGE).min(MAX_LOG_BLOCK_RANGE);
        let max_logs = filter.max_logs.unwrap_or(MAX_LOGS).min(MAX_LOGS) as usize;
        if to - from >= max_blocks {
            return Err(QueryError::LimitExceeded(format!(
                "block range greater than {max_blocks} blocks"
            )));
        }
        let Some(matcher) = alloy_filter(filter) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for number in from..=to {
            let Some(block) = self.blocks.get(&number) else {
                continue;
            };
            let header = block.decoded_header();
            if !matcher.matches_bloom(header.logs_bloom) {
                continue;
            }
            for (tx_index, tx_hash) in block.transactions.iter().enumerate() {
                let receipt = self.receipts.get(&tx_hash.0).expect("receipt of included tx");
                let envelope = ReceiptEnvelope::decode_2718(&mut receipt.envelope.as_ref())
                    .expect("stored receipt decodes");
                for (i, log) in envelope.logs().iter().enumerate() {
                    if !matcher.matches(log) {
                        continue;
                    }
                    if out.len() == max_logs {
                        return Err(QueryError::LimitExceeded(format!(
                            "query returned more than {max_logs} results"
                        )));
                    }
                    out.push(LogView {
                        address: log.address.into(),
                        topics: log.topics().iter().map(|t| (*t).into()).collect(),
                        data: log.data.data.to_vec().into(),
                        block_number: number,
                        block_hash: block.hash.into(),
                        block_timestamp: header.timestamp,
                        tx_hash: (*tx_hash).into(),
                        tx_index: tx_index as u64,
                        log_index: receipt.first_log_index + i as u64,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Base fees, gas use and priority fees of recent blocks (`eth_feeHistory`).
    pub fn fee_history(
        &self,
        block_count: u64,
        newest: BlockTag,
        percentiles: &[f64],
    ) -> Result<FeeHistory, QueryError> {
        let valid = percentiles.iter().all(|p| (0.0..=100.0).contains(p))
            && percentiles.windows(2).all(|w| w[0] <= w[1]);
        if !valid {
            return Err(QueryError::InvalidArgument(
                "reward percentiles must be increasing values between 0 and 100".to_owned(),
            ));
        }
        let newest = self.resolve(newest)?;
        let count = block_count.min(MAX_FEE_HISTORY_BLOCKS).min(newest + 1 - self.genesis_number());
        let oldest = newest + 1 - count;
        let mut history = FeeHistory {
            oldest_block: oldest,
            base_fee_per_gas: Vec::new(),
            gas_used_ratio: Vec::new(),
            reward: Vec::new(),
        };
        if count == 0 {
            return Ok(history);
        }
        let mut last = None;
        for number in oldest..=newest {
            let block = self.blocks.get(&number).expect("block exists");
            let header = block.decoded_header();
            let base_fee = header.base_fee_per_gas.unwrap_or_default();
            history.base_fee_per_gas.push(Wei::from(base_fee));
            history.gas_used_ratio.push(header.gas_used as f64 / header.gas_limit as f64);
            if !percentiles.is_empty() {
                let mut tips: Vec<(u128, u64)> = block
                    .transactions
                    .iter()
                    .filter_map(|hash| {
                        let receipt = self.receipts.get(&hash.0)?;
                        let tip = receipt.effective_gas_price.saturating_sub(u128::from(base_fee));
                        Some((tip, receipt.gas_used))
                    })
                    .collect();
                tips.sort_unstable();
                history.reward.push(rewards_at(&tips, header.gas_used, percentiles));
            }
            last = Some(header);
        }
        let next =
            last.and_then(|h| h.next_block_base_fee(BaseFeeParams::ethereum())).unwrap_or_default();
        history.base_fee_per_gas.push(Wei::from(next));
        Ok(history)
    }
}

/// Priority fees at the given percentiles of gas used, as geth computes them.
pub(super) fn rewards_at(tips: &[(u128, u64)], gas_used: u64, percentiles: &[f64]) -> Vec<Wei> {
    if tips.is_empty() {
        return vec![Wei::default(); percentiles.len()];
    }
    let mut out = Vec::with_capacity(percentiles.len());
    let mut index = 0;
    let mut cumulative = tips[0].1;
    for percentile in percentiles {
        let threshold = (gas_used as f64 * percentile / 100.0) as u64;
        while cumulative < threshold && index < tips.len() - 1 {
            index += 1;
            cumulative += tips[index].1;
        }
        out.push(Wei::from(tips[index].0));
    }
    out
}

/// The filter as alloy's [`Filter`], whose `matches` and `matches_bloom`
/// do the matching; `None` if no log can match (a topic is required at a
/// position past the fourth, which no log has).
pub(super) fn alloy_filter(filter: &LogFilter) -> Option<Filter> {
    if filter.topics.iter().skip(4).any(|alternatives| !alternatives.is_empty()) {
        return None;
    }
    let mut alloy = Filter::new().address(filter.addresses.iter().map(|a| a.0).collect::<Vec<_>>());
    for (position, alternatives) in filter.topics.iter().take(4).enumerate() {
        alloy.topics[position] = alternatives.iter().map(|t| t.0).collect::<Vec<_>>().into();
    }
    Some(alloy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, B256, Log, LogData};

    fn filter(addresses: Vec<Address>, topics: Vec<Vec<B256>>) -> LogFilter {
        LogFilter {
            addresses: addresses.into_iter().map(Into::into).collect(),
            topics: topics.into_iter().map(|t| t.into_iter().map(Into::into).collect()).collect(),
            ..LogFilter::default()
        }
    }

    fn log(address: Address, topics: Vec<B256>) -> Log {
        Log { address, data: LogData::new_unchecked(topics, Default::default()) }
    }

    #[test]
    fn topics_match_by_position_with_alternatives() {
        let (a, t1, t2) = (Address::repeat_byte(1), B256::repeat_byte(1), B256::repeat_byte(2));
        let any_then_t2 = alloy_filter(&filter(vec![a], vec![vec![], vec![t1, t2]])).unwrap();
        assert!(any_then_t2.matches(&log(a, vec![t1, t2])));
        assert!(!any_then_t2.matches(&log(a, vec![t1])), "a required position the log lacks");
        assert!(!any_then_t2.matches(&log(Address::repeat_byte(9), vec![t1, t2])));
        // Empty lists past the log's topics accept it.
        let trailing_any = alloy_filter(&filter(vec![], vec![vec![t1], vec![], vec![]])).unwrap();
        assert!(trailing_any.matches(&log(a, vec![t1])));
    }

    #[test]
    fn a_topic_required_past_the_fourth_matches_nothing() {
        let t = B256::repeat_byte(7);
        assert!(
            alloy_filter(&filter(vec![], vec![vec![], vec![], vec![], vec![], vec![t]])).is_none()
        );
        // Past the fourth, an empty list is no requirement.
        assert!(
            alloy_filter(&filter(vec![], vec![vec![t], vec![], vec![], vec![], vec![]])).is_some()
        );
    }
}
