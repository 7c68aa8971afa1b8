// workloads/data/translation.hpp — the public header of the sequence data of the character-level
// translation Transformer: a character vocabulary, English -> German pairs from Debian's
// dict-freedict-eng-deu, a synthetic numbers -> English words task, and padded batches.
//
// Contract:
// - Text is UTF-8 and sequences are of Unicode code points (decode_utf8 is strict: overlong
//   forms, surrogates, code points above U+10FFFF and cut sequences are errors). A Vocab maps
//   code points to ids: pad 0, bos 1, eos 2, unk 3, then its characters sorted by code point
//   (id 4 the smallest), so the same set of characters always gives the same ids. Each
//   TranslationData has one vocabulary per side, built from its train pairs only (the
//   train_size pairs returned); a character of the validation or test pairs (or of new text)
//   that they lack encodes as unk.
// - Sequences hold the ids of the characters only: no bos, no eos, no padding. make_batch adds
//   them: the encoder input is src padded with pad; the decoder input is bos + tgt and the
//   decoder target tgt + eos, both padded with pad to the same length.
// - Splits: every pair belongs to train, validation or test by translation_split_of(source
//   text), a fixed hash of its source (English, or the number's digits) — not of its position
//   in the file, not of the seed — so a pair stays in its split whatever the sizes asked for,
//   whatever the subset of the dictionary read, whatever the seed. Then each split's pairs,
//   in the order of the data (index order for the dictionary, ascending for numbers), are
//   shuffled with the seed (random_permutation of fashion_mnist.hpp, Philox stream
//   translation_order_stream + 0, 1, 2 for train, validation, test) and the first train_size
//   (validation_size, test_size) taken; 0 takes all. A larger size is an error. So for a seed,
//   a smaller size gives a prefix of a larger one, and another seed another order and subset
//   of the same split.
// - load_freedict_eng_deu reads freedict-eng-deu.index and freedict-eng-deu.dict.dz (dictzip,
//   read as gzip; where the .dz is absent a plain freedict-eng-deu.dict) from
//   TranslationOptions::dir, or /usr/share/dictd when that is empty (Debian package
//   dict-freedict-eng-deu, GPL-3+). An index line is "headword TAB offset TAB length", offset
//   and length in dictd's base64 (A-Z a-z 0-9 + / = 0..63, most significant digit first),
//   the entry being bytes [offset, offset + length) of the decompressed dictionary. The pairs:
//     * entries whose index headword starts with "00database" or "00-database" (dictionary
//       metadata) are skipped; so is an entry reached by an earlier index line (same offset);
//     * English: the entry's first line up to its pronunciation (the first " /" followed by
//       a character other than a space; so "be carved / etched" stays whole), without the
//       inflections and part of speech that follow it;
//     * German: the entry's second line, cut at its top-level commas (commas inside (), [],
//       <> and {} do not count), the first alternative that is not empty once cleaned; when
//       the English is a sentence (an ASCII capital first, '.', '!' or '?' last) only a comma
//       right after '.', '!', '?' or '…' separates alternatives ("Ehre, wem Ehre gebührt."
//       stays whole, "Rührt Euch!, Rühren!" gives "Rührt Euch!");
//     * cleaning, both sides: everything inside (), [], <> and {} goes with the brackets
//       ("Akut <masc> [print]" -> "Akut", "[coll.] das A und O [ugs.]" -> "das A und O"; an
//       opening bracket never closed removes the rest, a stray closing one goes alone), then
//       runs of blanks become one space, a space before . , ! ? ; : goes ("Was tut sich
//       (gerade)?" -> "Was tut sich?") and both ends are trimmed;
//     * an entry is dropped when a side is empty, when a side has no letter (ASCII letters,
//       U+00C0..U+024F without × and ÷, Greek U+0370..U+03FF, Cyrillic U+0400..U+052F), or
//       when the English has a comma (its German commas could then be the sentence's);
//     * one pair per English text: the first entry in index order that gives one (dictd's
//       index lists equal headwords by increasing offset); then the pair is kept when both
//       sides have at most max_len code points (0: no limit) — so max_len never changes
//       which translation a headword gets.
//   Errors are DataErrors (data/idx.hpp): a missing folder or file names the path and says
//   "install it: apt-get install dict-freedict-eng-deu"; a malformed index names the file and
//   line ("<index>:<line>: ..."); a bad dictionary names the file and the entry's offset.
// - make_number_words is a synthetic task for fast tests: the numbers 0..max_number (at most
//   999999), the source the decimal digits without leading zeros ("407"), the target
//   number_words(n): American English without "and", tens and units joined by a hyphen, e.g.
//   0 "zero", 21 "twenty-one", 407 "four hundred seven", 1000 "one thousand", 12345 "twelve
//   thousand three hundred forty-five". The same split, sizes, seed and max_len rules apply.
// - Everything is a pure function of the files (or max_number) and the options.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/data/idx.hpp"

namespace fp8sim::workloads {

/// The code points of UTF-8 `text`. Throws DataError ("invalid UTF-8 at byte N: ...") on a
/// malformed sequence (strict: no overlong forms, surrogates or code points above U+10FFFF).
[[nodiscard]] std::u32string decode_utf8(std::string_view text);

/// The UTF-8 encoding of `text`. Throws DataError for a surrogate or a value above U+10FFFF.
[[nodiscard]] std::string encode_utf8(std::u32string_view text);

/// A character vocabulary: the special ids, then characters (code points) sorted by code point.
class Vocab {
 public:
  static constexpr std::int32_t pad_id = 0;
  static constexpr std::int32_t bos_id = 1;
  static constexpr std::int32_t eos_id = 2;
  static constexpr std::int32_t unk_id = 3;
  static constexpr std::int32_t special_count = 4;  ///< the first character's id

  /// The specials only.
  Vocab() = default;
  /// The given characters, sorted by code point, each once. Throws DataError for a value that
  /// is not a Unicode scalar value (a surrogate or above U+10FFFF).
  explicit Vocab(std::vector<char32_t> characters);
  /// Every character of the UTF-8 texts. Throws DataError on invalid UTF-8.
  [[nodiscard]] static Vocab from_texts(std::span<const std::string> texts);

  /// The number of ids: special_count + characters().size().
  [[nodiscard]] std::size_t size() const { return special_count + chars_.size(); }
  /// The characters, ascending; character k has id special_count + k.
  [[nodiscard]] const std::vector<char32_t>& characters() const { return chars_; }
  /// The id of c, or unk_id when c is not in the vocabulary.
  [[nodiscard]] std::int32_t id(char32_t c) const;
  [[nodiscard]] bool contains(char32_t c) const { return id(c) != unk_id; }
  /// The character of a character id. Throws std::out_of_range for a special or unknown id.
  [[nodiscard]] char32_t character(std::int32_t id) const;

  /// The ids of the characters of UTF-8 `text` (unknown ones unk_id; no bos, no eos).
  /// Throws DataError on invalid UTF-8.
  [[nodiscard]] std::vector<std::int32_t> encode(std::string_view text) const;
  /// The UTF-8 text of `ids`: pad and bos are skipped, the first eos ends the text, unk becomes
  /// U+FFFD (the replacement character). Throws std::out_of_range for an id < 0 or >= size().
  [[nodiscard]] std::string decode(std::span<const std::int32_t> ids) const;

  friend bool operator==(const Vocab&, const Vocab&) = default;

 private:
  std::vector<char32_t> chars_;
};

/// Pairs of sequences: pair i is src[i] -> tgt[i] (character ids, no bos, eos or padding),
/// from the texts src_text[i] -> tgt_text[i] (UTF-8, as cleaned).
struct SequencePairs {
  std::vector<std::vector<std::int32_t>> src, tgt;
  std::vector<std::string> src_text, tgt_text;
  [[nodiscard]] std::size_t size() const { return src.size(); }
};

struct TranslationData {
  Vocab src_vocab, tgt_vocab;  ///< from the train pairs only
  SequencePairs train, validation, test;
  std::string source;       ///< what was read, e.g. "freedict-eng-deu (/usr/share/dictd)"
  std::size_t max_len = 0;  ///< the limit applied (0: none)
};

/// The split a pair belongs to (see the contract): bucket = h % 100 of a 64-bit hash h of
/// the source text, ASCII letters lowercased (FNV-1a, then the SplitMix64 finaliser);
/// buckets 0..79 train, 80..89 validation, 90..99 test.
enum class SplitPart { train, validation, test };
[[nodiscard]] SplitPart translation_split_of(std::string_view source_text);

/// Philox streams of the splits' shuffles: + 0 train, + 1 validation, + 2 test.
inline constexpr std::uint64_t translation_order_stream = 0x5452'414E'5300'0000;  // "TRANS"

/// The folder of Debian's dict-freedict-eng-deu package.
inline constexpr const char* freedict_default_dir = "/usr/share/dictd";

struct TranslationOptions {
  std::filesystem::path dir;        ///< empty: freedict_default_dir
  std::size_t max_len = 24;         ///< code points per side, at most (0: no limit)
  std::size_t train_size = 0;       ///< 0: the whole train split
  std::size_t validation_size = 0;  ///< 0: the whole validation split
  std::size_t test_size = 0;        ///< 0: the whole test split
  std::uint64_t seed = 0;           ///< the order (and so the subsets) within each split
};

/// English -> German pairs of dict-freedict-eng-deu (see the contract). Throws DataError.
[[nodiscard]] TranslationData load_freedict_eng_deu(const TranslationOptions& options = {});

/// The largest number of the number-words task.
inline constexpr std::uint64_t number_words_max = 999'999;

/// The English words of n (0 <= n <= number_words_max; see the contract). Throws
/// std::out_of_range beyond.
[[nodiscard]] std::string number_words(std::uint64_t n);

struct NumberWordsOptions {
  std::uint64_t max_number = 999;   ///< the numbers 0..max_number (at most number_words_max)
  std::size_t max_len = 0;          ///< code points per side, at most (0: no limit)
  std::size_t train_size = 0;       ///< 0: the whole train split
  std::size_t validation_size = 0;  ///< 0: the whole validation split
  std::size_t test_size = 0;        ///< 0: the whole test split
  std::uint64_t seed = 0;
};

/// The synthetic numbers -> English words task (see the contract). Throws DataError for a
/// max_number above number_words_max or a size larger than its split.
[[nodiscard]] TranslationData make_number_words(const NumberWordsOptions& options = {});

/// A batch of pairs, row-major [batch_size x length] id arrays.
struct SequenceBatch {
  std::size_t batch_size = 0;
  std::size_t src_len = 0;               ///< max(longest src, pad_src_to)
  std::size_t tgt_len = 0;               ///< max(longest tgt + 1, pad_tgt_to)
  std::vector<std::int32_t> src;         ///< src, then pad
  std::vector<std::int32_t> tgt_in;      ///< bos, tgt, then pad (the decoder's input)
  std::vector<std::int32_t> tgt_out;     ///< tgt, eos, then pad (what the decoder must predict)
  std::vector<std::size_t> src_lengths;  ///< src[i].size()
  std::vector<std::size_t> tgt_lengths;  ///< tgt[i].size() + 1 (the bos or eos included)
  std::vector<std::size_t> index;        ///< row r is pair index[r] of the split
};

/// The batch of pairs indices[0], indices[1], ... of `pairs` (e.g. a slice of an
/// EpochOrder's permutation, fashion_mnist.hpp). Lengths are padded to at least pad_src_to and
/// pad_tgt_to (0: just the batch's longest). Throws std::out_of_range for an index >= size().
[[nodiscard]] SequenceBatch make_batch(const SequencePairs& pairs,
                                       std::span<const std::size_t> indices,
                                       std::size_t pad_src_to = 0, std::size_t pad_tgt_to = 0);

}  // namespace fp8sim::workloads
