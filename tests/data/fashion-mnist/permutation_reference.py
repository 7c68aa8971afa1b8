#!/usr/bin/python3
"""Independent reference for fp8sim::workloads::random_permutation (workloads/data/).

Philox4x32-10 written out from Random123's constants, rounding/random_bits.hpp's stream_word
(word w = word w % 4 of the block with counter (w // 4 low, high, stream low, stream high) and
key (seed low, seed high)), 64-bit draws (w0 << 32 | w1), Lemire's multiply-and-reject and
Fisher-Yates from the top. Prints the permutations pinned in tests/workloads/test_data.cpp.

usage: /usr/bin/python3 permutation_reference.py
"""
M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1


def philox4x32_10(ctr, key):
    c, k = list(ctr), list(key)
    for _ in range(10):
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & M32, (p0 >> 32) ^ c[3] ^ k[1], p0 & M32]
        k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
    return c


def stream_word(seed, stream, w):
    block = w // 4
    ctr = [block & M32, block >> 32, stream & M32, stream >> 32]
    return philox4x32_10(ctr, [seed & M32, seed >> 32])[w % 4]


def random_permutation(n, seed, stream):
    perm = list(range(n))
    w = 0

    def draw():
        nonlocal w
        x = (stream_word(seed, stream, w) << 32) | stream_word(seed, stream, w + 1)
        w += 2
        return x

    for i in range(n, 1, -1):  # j uniform in [0, i-1]
        m = draw() * i
        if (m & M64) < i:
            threshold = ((1 << 64) - i) % i
            while (m & M64) < threshold:
                m = draw() * i
        j = m >> 64
        perm[i - 1], perm[j] = perm[j], perm[i - 1]
    return perm


SPLIT_STREAM = 0x53504C4954000000  # fashion_mnist_split_stream
EPOCH_STREAM_BASE = 0x45504F4348000000  # EpochOrder::epoch_stream_base

if __name__ == "__main__":
    print(random_permutation(10, 1, 2))
    print(random_permutation(10, 0x123456789ABCDEF0, SPLIT_STREAM))
    print(random_permutation(20, 42, EPOCH_STREAM_BASE + 3))
