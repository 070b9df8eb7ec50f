// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";

/// @notice Plain OpenZeppelin ERC721 with an open mint: the gas baseline of scripts/bench_gas.py.
/// @dev Benchmark only; never deployed by the stack.
contract BenchERC721 is ERC721 {
    constructor() ERC721("Bench", "BENCH") {}

    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}

/// @notice Plain OpenZeppelin ERC1155 with an open batch mint: the gas baseline of scripts/bench_gas.py.
/// @dev Benchmark only; never deployed by the stack.
contract BenchERC1155 is ERC1155 {
    constructor() ERC1155("") {}

    function mintBatch(address to, uint256[] calldata ids, uint256[] calldata values) external {
        _mintBatch(to, ids, values, "");
    }
}
