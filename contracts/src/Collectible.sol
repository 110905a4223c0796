// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// An OpenZeppelin ERC721 that anyone may mint, with ids 1, 2, 3, ...
contract Collectible is ERC721 {
    uint256 private lastId;

    constructor() ERC721("Collectible", "NFT") {}

    /// Mints the next token to `to` and returns its id.
    function mint(address to) external returns (uint256 tokenId) {
        tokenId = ++lastId;
        _mint(to, tokenId);
    }
}
