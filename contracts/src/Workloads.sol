// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Cost workloads: storage and hashing loops, and one call per precompile.
/// Each function is meant to be sent as a transaction, so each stores
/// something derived from its work.
contract Workloads {
    /// Slots written once each by `storageLoop`.
    mapping(uint256 => uint256) public fresh;
    /// The first slot of `fresh` the next `storageLoop` writes.
    uint256 public nextFresh;
    /// Slots rewritten by every `storageRewrite`.
    mapping(uint256 => uint256) public rewritten;
    /// How many times `storageRewrite` has run.
    uint256 public rewrites;
    /// A hash of the last output of `hashLoop` or of a precompile.
    bytes32 public lastResult;
    /// The address the last `ecrecoverCall` recovered.
    address public lastSigner;

    /// Writes `count` storage slots that have never been written before.
    function storageLoop(uint256 count) external {
        uint256 base = nextFresh;
        for (uint256 i = 0; i < count; i++) {
            fresh[base + i] = i + 1;
        }
        nextFresh = base + count;
    }

    /// Writes slots 0 to `count - 1` of `rewritten`, with a value that is new
    /// on every call.
    function storageRewrite(uint256 count) external {
        uint256 value = ++rewrites;
        for (uint256 i = 0; i < count; i++) {
            rewritten[i] = value;
        }
    }

    /// Hashes the last result with keccak256 `rounds` times and stores it.
    function hashLoop(uint256 rounds) external returns (bytes32 h) {
        h = lastResult;
        for (uint256 i = 0; i < rounds; i++) {
            assembly ("memory-safe") {
                mstore(0, h)
                h := keccak256(0, 32)
            }
        }
        lastResult = h;
    }

    /// Recovers the signer of `hash` (precompile 1) and stores it.
    function ecrecoverCall(bytes32 hash, uint8 v, bytes32 r, bytes32 s) external returns (address signer) {
        signer = ecrecover(hash, v, r, s);
        lastSigner = signer;
    }

    /// SHA-256 of `data` (precompile 2).
    function sha256Call(bytes memory data) external returns (bytes32 digest) {
        digest = sha256(data);
        lastResult = digest;
    }

    /// RIPEMD-160 of `data` (precompile 3).
    function ripemd160Call(bytes memory data) external returns (bytes20 digest) {
        digest = ripemd160(data);
        lastResult = bytes32(digest);
    }

    /// Copies `data` through the identity precompile (4).
    function identityCall(bytes memory data) external returns (bytes memory) {
        return _call(address(4), data);
    }

    /// `base ** exponent % modulus` (precompile 5, EIP-198).
    function modexpCall(bytes memory base, bytes memory exponent, bytes memory modulus)
        external
        returns (bytes memory)
    {
        bytes memory input = abi.encodePacked(
            uint256(base.length), uint256(exponent.length), uint256(modulus.length), base, exponent, modulus
        );
        return _call(address(5), input);
    }

    /// Adds the alt_bn128 points (input[0], input[1]) and (input[2], input[3])
    /// (precompile 6, EIP-196).
    function bn254AddCall(uint256[4] memory input) external returns (uint256[2] memory) {
        return abi.decode(_call(address(6), abi.encode(input)), (uint256[2]));
    }

    /// Multiplies the alt_bn128 point (input[0], input[1]) by input[2]
    /// (precompile 7, EIP-196).
    function bn254MulCall(uint256[3] memory input) external returns (uint256[2] memory) {
        return abi.decode(_call(address(7), abi.encode(input)), (uint256[2]));
    }

    /// Checks the alt_bn128 pairing equation for `input`, a sequence of
    /// 192-byte (G1, G2) pairs (precompile 8, EIP-197).
    function bn254PairingCall(bytes memory input) external returns (bool) {
        return abi.decode(_call(address(8), input), (uint256)) == 1;
    }

    /// Runs the BLAKE2b compression function F (precompile 9, EIP-152). The
    /// offset counters are the first 8 bytes of `t[0]` and `t[1]`.
    function blake2fCall(uint32 rounds, bytes32[2] memory h, bytes32[4] memory m, bytes32[2] memory t, bool f)
        external
        returns (bytes32[2] memory)
    {
        bytes memory input =
            abi.encodePacked(rounds, h[0], h[1], m[0], m[1], m[2], m[3], bytes8(t[0]), bytes8(t[1]), f);
        return abi.decode(_call(address(9), input), (bytes32[2]));
    }

    /// Calls `precompile` with `input`, requires success and stores the hash
    /// of the output.
    function _call(address precompile, bytes memory input) private returns (bytes memory output) {
        bool ok;
        (ok, output) = precompile.staticcall(input);
        require(ok, "Workloads: precompile call failed");
        lastResult = keccak256(output);
    }
}
