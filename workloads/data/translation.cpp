// workloads/data/translation.cpp — the translation data sets and their vocabulary (see
// translation.hpp).
#include "workloads/data/translation.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "workloads/data/fashion_mnist.hpp"

namespace fp8sim::workloads {
namespace {

constexpr const char* kInstallHint = "install it: apt-get install dict-freedict-eng-deu";
constexpr const char* kIndexName = "freedict-eng-deu.index";
constexpr const char* kDictName = "freedict-eng-deu.dict.dz";
constexpr const char* kPlainDictName = "freedict-eng-deu.dict";
// The most that a dictionary may decompress to (the real one is 80 MB).
constexpr std::size_t kMaxDictBytes = std::size_t{1} << 30;
constexpr std::size_t kMaxIndexBytes = std::size_t{1} << 30;

constexpr char32_t kReplacement = 0xFFFD;

// ---- UTF-8 ----------------------------------------------------------------------------------

struct Utf8Fault {
  std::size_t at = 0;
  std::string what;
};

// Decodes the sequence at text[i]: the code point and its byte count, or a fault.
std::optional<Utf8Fault> decode_one(std::string_view text, std::size_t i, char32_t& cp,
                                    std::size_t& bytes) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) {
    cp = b0;
    bytes = 1;
    return std::nullopt;
  }
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    bytes = 2;
    cp = b0 & 0x1FU;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    bytes = 3;
    cp = b0 & 0x0FU;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    bytes = 4;
    cp = b0 & 0x07U;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return Utf8Fault{i, fmt::format("byte 0x{:02x} cannot start a UTF-8 sequence", b0)};
  }
  for (std::size_t k = 1; k < bytes; ++k) {
    if (i + k >= text.size()) {
      return Utf8Fault{
          i, fmt::format("the {}-byte sequence is cut short by the end of the text", bytes)};
    }
    const auto b = static_cast<unsigned char>(text[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
      return Utf8Fault{i, fmt::format("byte 0x{:02x} at byte {} is not a valid continuation of "
                                      "the sequence starting 0x{:02x}",
                                      b, i + k, b0)};
    }
    cp = (cp << 6) | (b & 0x3FU);
  }
  return std::nullopt;
}

std::optional<Utf8Fault> check_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    std::size_t bytes = 0;
    if (auto fault = decode_one(text, i, cp, bytes)) return fault;
    i += bytes;
  }
  return std::nullopt;
}

bool is_scalar_value(char32_t c) {
  return c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::size_t code_point_count(std::string_view valid_utf8) {
  std::size_t n = 0;
  for (const char ch : valid_utf8) {
    if ((static_cast<unsigned char>(ch) & 0xC0U) != 0x80U) ++n;
  }
  return n;
}

// ---- entry cleaning -------------------------------------------------------------------------

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

char closer_of(char c) {
  switch (c) {
    case '(':
      return ')';
    case '[':
      return ']';
    case '<':
      return '>';
    case '{':
      return '}';
    default:
      return '\0';
  }
}

// Punctuation that a blank never precedes in the cleaned text ("Was tut sich (gerade)?" ->
// "Was tut sich?").
bool is_trailing_punctuation(char c) {
  return c == '.' || c == ',' || c == '!' || c == '?' || c == ';' || c == ':';
}

bool is_closer(char c) {
  return c == ')' || c == ']' || c == '>' || c == '}';
}

// `text` cut at its commas outside brackets. (All delimiters are ASCII, which never occurs
// inside a multi-byte UTF-8 sequence, so working on bytes is safe.)
std::vector<std::string_view> split_top_level_commas(std::string_view text) {
  std::vector<std::string_view> parts;
  std::string stack;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (const char close = closer_of(c); close != '\0') {
      stack.push_back(close);
    } else if (is_closer(c)) {
      if (!stack.empty() && stack.back() == c) stack.pop_back();
    } else if (c == ',' && stack.empty()) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  return parts;
}

// Removes bracketed groups (with their brackets; an unclosed one to the end, a stray closer on
// its own), collapses blanks, trims.
std::string clean_text(std::string_view text) {
  std::string kept;
  std::string stack;
  for (const char c : text) {
    if (const char close = closer_of(c); close != '\0') {
      stack.push_back(close);
    } else if (is_closer(c)) {
      if (!stack.empty() && stack.back() == c) stack.pop_back();
    } else if (stack.empty()) {
      kept.push_back(c);
    }
  }
  std::string out;
  bool pending_space = false;
  for (const char c : kept) {
    if (is_blank(c)) {
      pending_space = !out.empty();
    } else {
      if (pending_space && !is_trailing_punctuation(c)) out.push_back(' ');
      pending_space = false;
      out.push_back(c);
    }
  }
  return out;
}

bool is_letter(char32_t c) {
  if ((c >= U'A' && c <= U'Z') || (c >= U'a' && c <= U'z')) return true;
  if (c >= 0xC0 && c <= 0x24F) return c != 0xD7 && c != 0xF7;
  return c >= 0x370 && c <= 0x52F;
}

bool has_letter(std::string_view valid_utf8) {
  const std::u32string cps = decode_utf8(valid_utf8);
  return std::any_of(cps.begin(), cps.end(), is_letter);
}

// The English headword of an entry's first line: up to the pronunciation.
std::string_view headword_part(std::string_view line) {
  for (std::size_t p = 0; p + 2 < line.size(); ++p) {
    if (line[p] == ' ' && line[p + 1] == '/' && !is_blank(line[p + 2])) return line.substr(0, p);
  }
  return line;
}

// An English sentence: an ASCII capital first, '.', '!' or '?' last.
bool is_sentence(std::string_view en) {
  return !en.empty() && en.front() >= 'A' && en.front() <= 'Z' &&
         (en.back() == '.' || en.back() == '!' || en.back() == '?');
}

bool ends_a_sentence(std::string_view part) {
  while (!part.empty() && is_blank(part.back())) part.remove_suffix(1);
  if (part.empty()) return false;
  const char c = part.back();
  return c == '.' || c == '!' || c == '?' || part.ends_with("\xE2\x80\xA6");  // …
}

// The alternatives of a sentence's translation: the parts of `parts` (consecutive views of
// `line`) joined again, with their commas, except after a part that ends a sentence ("Rührt
// Euch!, Rühren!" is two alternatives, "Ehre, wem Ehre gebührt." one).
std::vector<std::string_view> sentence_alternatives(std::string_view line,
                                                    const std::vector<std::string_view>& parts) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const auto end = static_cast<std::size_t>(parts[k].data() - line.data()) + parts[k].size();
    if (k + 1 == parts.size() || ends_a_sentence(parts[k])) {
      out.push_back(line.substr(start, end - start));
      start = end + 1;  // past the comma
    }
  }
  return out;
}

struct CleanPair {
  std::string en, de;
};

// The pair of one entry, or nothing (see the contract).
std::optional<CleanPair> pair_of_entry(std::string_view entry) {
  const std::size_t nl1 = entry.find('\n');
  if (nl1 == std::string_view::npos) return std::nullopt;
  const std::string_view line1 = entry.substr(0, nl1);
  std::string_view line2 = entry.substr(nl1 + 1);
  if (const std::size_t nl2 = line2.find('\n'); nl2 != std::string_view::npos) {
    line2 = line2.substr(0, nl2);
  }
  CleanPair pair;
  pair.en = clean_text(headword_part(line1));
  if (pair.en.empty() || pair.en.find(',') != std::string::npos || !has_letter(pair.en)) {
    return std::nullopt;
  }
  std::vector<std::string_view> alternatives = split_top_level_commas(line2);
  if (is_sentence(pair.en)) alternatives = sentence_alternatives(line2, alternatives);
  for (const std::string_view alt : alternatives) {
    pair.de = clean_text(alt);
    if (!pair.de.empty()) break;
  }
  if (pair.de.empty() || !has_letter(pair.de)) return std::nullopt;
  return pair;
}

// ---- files ----------------------------------------------------------------------------------

struct GzClose {
  void operator()(gzFile f) const { gzclose(f); }
};

// The whole decompressed contents of a gzip (or plain) file.
std::string read_gzip_file(const std::filesystem::path& file) {
  const std::string path = file.string();
  errno = 0;
  std::unique_ptr<std::remove_pointer_t<gzFile>, GzClose> in(gzopen(path.c_str(), "rb"));
  if (!in) {
    const int err = errno;
    throw DataError(
        fmt::format("{}: cannot open ({})", path, err != 0 ? std::strerror(err) : "out of memory"));
  }
  gzbuffer(in.get(), 1U << 17);
  std::string data;
  std::array<char, 1U << 16> buffer{};
  for (;;) {
    const int r = gzread(in.get(), buffer.data(), static_cast<unsigned>(buffer.size()));
    if (r < 0) {
      int errnum = Z_OK;
      const char* msg = gzerror(in.get(), &errnum);
      if (errnum == Z_BUF_ERROR) {
        throw DataError(
            fmt::format("{}: gzip stream cut short (the compressed file is truncated)", path));
      }
      if (errnum == Z_ERRNO) {
        throw DataError(fmt::format("{}: read error ({})", path, std::strerror(errno)));
      }
      throw DataError(fmt::format("{}: corrupt gzip data ({})", path, msg));
    }
    if (r == 0) break;
    data.append(buffer.data(), static_cast<std::size_t>(r));
    if (data.size() > kMaxDictBytes) {
      throw DataError(fmt::format("{}: decompresses to more than {} bytes", path, kMaxDictBytes));
    }
  }
  // gzread reports a cut stream at its end only through gzerror
  int errnum = Z_OK;
  const char* msg = gzerror(in.get(), &errnum);
  if (errnum == Z_BUF_ERROR) {
    throw DataError(
        fmt::format("{}: gzip stream cut short (the compressed file is truncated)", path));
  }
  if (errnum != Z_OK) throw DataError(fmt::format("{}: read error ({})", path, msg));
  return data;
}

std::string read_text_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw DataError(fmt::format("{}: cannot open ({})", file.string(), std::strerror(errno)));
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw DataError(fmt::format("{}: read error", file.string()));
  if (data.size() > kMaxIndexBytes) {
    throw DataError(fmt::format("{}: larger than {} bytes", file.string(), kMaxIndexBytes));
  }
  return data;
}

// dictd's base64 number, or nothing for a bad field.
std::optional<std::uint64_t> decode_dictd_base64(std::string_view field, std::string& why) {
  if (field.empty()) {
    why = "empty";
    return std::nullopt;
  }
  if (field.size() > 10) {  // 60 bits; dictd writes at most 6 digits for its 32-bit offsets
    why = fmt::format("{} digits, more than 10", field.size());
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (const char c : field) {
    unsigned d = 0;
    if (c >= 'A' && c <= 'Z') {
      d = static_cast<unsigned>(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      d = 26U + static_cast<unsigned>(c - 'a');
    } else if (c >= '0' && c <= '9') {
      d = 52U + static_cast<unsigned>(c - '0');
    } else if (c == '+') {
      d = 62;
    } else if (c == '/') {
      d = 63;
    } else {
      why = fmt::format("'{}' is not a base64 digit",
                        (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
                            ? fmt::format("\\x{:02x}", static_cast<unsigned char>(c))
                            : std::string(1, c));
      return std::nullopt;
    }
    v = v * 64 + d;
  }
  return v;
}

std::filesystem::path dictionary_file(const std::filesystem::path& dir) {
  std::error_code ec;
  const std::filesystem::path dz = dir / kDictName;
  if (std::filesystem::exists(dz, ec)) return dz;
  const std::filesystem::path plain = dir / kPlainDictName;
  if (std::filesystem::exists(plain, ec)) return plain;
  throw DataError(
      fmt::format("freedict-eng-deu: {}: no such file (the Debian package "
                  "dict-freedict-eng-deu); {}",
                  dz.string(), kInstallHint));
}

struct TextPair {
  std::string src, tgt;
};

// ---- splits, vocabularies, sequences --------------------------------------------------------

std::size_t checked_size(std::size_t asked, std::size_t available, const char* option,
                         const char* split, const std::string& what) {
  if (asked > available) {
    throw DataError(fmt::format("{}: {} = {} exceeds the maximum {} (the pairs of the {} split)",
                                what, option, asked, available, split));
  }
  return asked == 0 ? available : asked;
}

SequencePairs encode_pairs(const std::vector<TextPair>& pairs, const Vocab& src_vocab,
                           const Vocab& tgt_vocab) {
  SequencePairs out;
  out.src.reserve(pairs.size());
  out.tgt.reserve(pairs.size());
  out.src_text.reserve(pairs.size());
  out.tgt_text.reserve(pairs.size());
  for (const TextPair& p : pairs) {
    out.src.push_back(src_vocab.encode(p.src));
    out.tgt.push_back(tgt_vocab.encode(p.tgt));
    out.src_text.push_back(p.src);
    out.tgt_text.push_back(p.tgt);
  }
  return out;
}

struct SizeRequest {
  std::size_t train = 0, validation = 0, test = 0;
  std::uint64_t seed = 0;
};

// Splits `pairs` (in the data's order) by translation_split_of, takes each split's subset in
// its seeded order and builds the vocabularies from the train subset.
TranslationData split_and_encode(const std::vector<TextPair>& pairs, const SizeRequest& sizes,
                                 const std::string& what) {
  std::array<std::vector<std::size_t>, 3> members;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    members[static_cast<std::size_t>(translation_split_of(pairs[i].src))].push_back(i);
  }
  const std::array<std::size_t, 3> asked{sizes.train, sizes.validation, sizes.test};
  static constexpr std::array<const char*, 3> kOption{"train_size", "validation_size", "test_size"};
  static constexpr std::array<const char*, 3> kSplit{"train", "validation", "test"};
  std::array<std::vector<TextPair>, 3> chosen;
  for (std::size_t k = 0; k < 3; ++k) {
    const std::size_t n = checked_size(asked[k], members[k].size(), kOption[k], kSplit[k], what);
    const std::vector<std::size_t> order =
        random_permutation(members[k].size(), sizes.seed, translation_order_stream + k);
    chosen[k].reserve(n);
    for (std::size_t i = 0; i < n; ++i) chosen[k].push_back(pairs[members[k][order[i]]]);
  }

  TranslationData out;
  std::vector<std::string> src_texts, tgt_texts;
  for (const TextPair& p : chosen[0]) {
    src_texts.push_back(p.src);
    tgt_texts.push_back(p.tgt);
  }
  out.src_vocab = Vocab::from_texts(src_texts);
  out.tgt_vocab = Vocab::from_texts(tgt_texts);
  out.train = encode_pairs(chosen[0], out.src_vocab, out.tgt_vocab);
  out.validation = encode_pairs(chosen[1], out.src_vocab, out.tgt_vocab);
  out.test = encode_pairs(chosen[2], out.src_vocab, out.tgt_vocab);
  return out;
}

bool within(std::string_view text, std::size_t max_len) {
  return max_len == 0 || code_point_count(text) <= max_len;
}

std::uint64_t split_hash(std::string_view text) {
  std::uint64_t h = 0xCBF2'9CE4'8422'2325U;  // FNV-1a 64
  for (const char ch : text) {
    auto b = static_cast<unsigned char>(ch);
    if (b >= 'A' && b <= 'Z') b = static_cast<unsigned char>(b - 'A' + 'a');
    h ^= b;
    h *= 0x0000'0100'0000'01B3U;
  }
  h = (h ^ (h >> 30)) * 0xBF58'476D'1CE4'E5B9U;  // SplitMix64's finaliser
  h = (h ^ (h >> 27)) * 0x94D0'49BB'1331'11EBU;
  return h ^ (h >> 31);
}

}  // namespace

// ---- public ---------------------------------------------------------------------------------

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    std::size_t bytes = 0;
    if (auto fault = decode_one(text, i, cp, bytes)) {
      throw DataError(fmt::format("invalid UTF-8 at byte {}: {}", fault->at, fault->what));
    }
    out.push_back(cp);
    i += bytes;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (!is_scalar_value(c)) {
      throw DataError(
          fmt::format("encode_utf8: U+{:04X} at position {} is not a Unicode scalar "
                      "value (a surrogate or above U+10FFFF)",
                      static_cast<std::uint32_t>(c), i));
    }
    append_utf8(out, c);
  }
  return out;
}

Vocab::Vocab(std::vector<char32_t> characters) : chars_(std::move(characters)) {
  for (const char32_t c : chars_) {
    if (!is_scalar_value(c)) {
      throw DataError(fmt::format("Vocab: U+{:04X} is not a Unicode scalar value",
                                  static_cast<std::uint32_t>(c)));
    }
  }
  std::sort(chars_.begin(), chars_.end());
  chars_.erase(std::unique(chars_.begin(), chars_.end()), chars_.end());
}

Vocab Vocab::from_texts(std::span<const std::string> texts) {
  std::vector<char32_t> chars;
  for (const std::string& t : texts) {
    const std::u32string cps = decode_utf8(t);
    chars.insert(chars.end(), cps.begin(), cps.end());
    // keep the working set small on large inputs
    if (chars.size() > 4096) {
      std::sort(chars.begin(), chars.end());
      chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
    }
  }
  return Vocab(std::move(chars));
}

std::int32_t Vocab::id(char32_t c) const {
  const auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
  if (it == chars_.end() || *it != c) return unk_id;
  return special_count + static_cast<std::int32_t>(it - chars_.begin());
}

char32_t Vocab::character(std::int32_t id) const {
  if (id < special_count || static_cast<std::size_t>(id) >= size()) {
    throw std::out_of_range(
        fmt::format("Vocab::character: id {} is not a character id (ids {} to {})", id,
                    special_count, static_cast<std::int64_t>(size()) - 1));
  }
  return chars_[static_cast<std::size_t>(id - special_count)];
}

std::vector<std::int32_t> Vocab::encode(std::string_view text) const {
  const std::u32string cps = decode_utf8(text);
  std::vector<std::int32_t> ids;
  ids.reserve(cps.size());
  for (const char32_t c : cps) ids.push_back(id(c));
  return ids;
}

std::string Vocab::decode(std::span<const std::int32_t> ids) const {
  std::string out;
  for (const std::int32_t v : ids) {
    if (v < 0 || static_cast<std::size_t>(v) >= size()) {
      throw std::out_of_range(
          fmt::format("Vocab::decode: id {} out of range (vocabulary of {})", v, size()));
    }
    if (v == eos_id) break;
    if (v == pad_id || v == bos_id) continue;
    append_utf8(out,
                v == unk_id ? kReplacement : chars_[static_cast<std::size_t>(v - special_count)]);
  }
  return out;
}

SplitPart translation_split_of(std::string_view source_text) {
  const std::uint64_t bucket = split_hash(source_text) % 100;
  if (bucket < 80) return SplitPart::train;
  if (bucket < 90) return SplitPart::validation;
  return SplitPart::test;
}

TranslationData load_freedict_eng_deu(const TranslationOptions& options) {
  const std::filesystem::path dir = options.dir.empty() ? freedict_default_dir : options.dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    const bool exists = std::filesystem::exists(dir, ec);
    throw DataError(
        fmt::format("freedict-eng-deu: {} {} (the Debian package "
                    "dict-freedict-eng-deu); {}",
                    exists ? "not a folder:" : "no folder", dir.string(), kInstallHint));
  }
  const std::filesystem::path index_file = dir / kIndexName;
  if (!std::filesystem::exists(index_file, ec)) {
    throw DataError(
        fmt::format("freedict-eng-deu: {}: no such file (the Debian package "
                    "dict-freedict-eng-deu); {}",
                    index_file.string(), kInstallHint));
  }
  const std::filesystem::path dict_file = dictionary_file(dir);
  const std::string index = read_text_file(index_file);
  const std::string dict = read_gzip_file(dict_file);
  const std::string index_name = index_file.string();
  const std::string dict_name = dict_file.string();

  if (index.empty()) throw DataError(fmt::format("{}: empty file, not a dictd index", index_name));
  if (index.back() != '\n') {
    const auto lines = static_cast<std::size_t>(std::count(index.begin(), index.end(), '\n')) + 1;
    throw DataError(
        fmt::format("{}:{}: the last line has no newline (a truncated file?)", index_name, lines));
  }

  std::vector<TextPair> pairs;
  std::unordered_set<std::string> seen_src;
  std::unordered_set<std::uint64_t> seen_offset;
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < index.size();) {
    const std::size_t end = index.find('\n', pos);
    const std::string_view line(index.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    const std::size_t tab1 = line.find('\t');
    const std::size_t tab2 =
        tab1 == std::string_view::npos ? std::string_view::npos : line.find('\t', tab1 + 1);
    const std::size_t tabs = static_cast<std::size_t>(std::count(line.begin(), line.end(), '\t'));
    if (tabs != 2) {
      throw DataError(
          fmt::format("{}:{}: {} tab-separated fields, want 3 (headword, offset, "
                      "length)",
                      index_name, line_no, tabs + 1));
    }
    const std::string_view headword = line.substr(0, tab1);
    if (auto fault = check_utf8(headword)) {
      throw DataError(fmt::format("{}:{}: the headword is not valid UTF-8 (at byte {}: {})",
                                  index_name, line_no, fault->at, fault->what));
    }
    std::string why;
    const auto offset = decode_dictd_base64(line.substr(tab1 + 1, tab2 - tab1 - 1), why);
    if (!offset) throw DataError(fmt::format("{}:{}: bad offset: {}", index_name, line_no, why));
    const auto length = decode_dictd_base64(line.substr(tab2 + 1), why);
    if (!length) throw DataError(fmt::format("{}:{}: bad length: {}", index_name, line_no, why));
    if (*offset > dict.size() || *length > dict.size() - *offset) {
      throw DataError(fmt::format(
          "{}: the entry at offset {} of length {} ({}:{}) runs past the end of the "
          "decompressed dictionary ({} bytes; a truncated file, or the index of another "
          "dictionary?)",
          dict_name, *offset, *length, index_name, line_no, dict.size()));
    }
    if (headword.starts_with("00database") || headword.starts_with("00-database")) continue;
    if (!seen_offset.insert(*offset).second) continue;
    const std::string_view entry(dict.data() + *offset, static_cast<std::size_t>(*length));
    if (auto fault = check_utf8(entry)) {
      throw DataError(
          fmt::format("{}: the entry at offset {} ({}:{}) is not valid UTF-8 (at "
                      "byte {} of the entry: {})",
                      dict_name, *offset, index_name, line_no, fault->at, fault->what));
    }
    std::optional<CleanPair> pair = pair_of_entry(entry);
    if (!pair || !seen_src.insert(pair->en).second) continue;
    if (!within(pair->en, options.max_len) || !within(pair->de, options.max_len)) continue;
    pairs.push_back({std::move(pair->en), std::move(pair->de)});
  }

  const std::string what = fmt::format("freedict-eng-deu ({})", dir.string());
  TranslationData out = split_and_encode(
      pairs, {options.train_size, options.validation_size, options.test_size, options.seed}, what);
  out.source = what;
  out.max_len = options.max_len;
  return out;
}

std::string number_words(std::uint64_t n) {
  if (n > number_words_max) {
    throw std::out_of_range(
        fmt::format("number_words: {} is above the largest, {}", n, number_words_max));
  }
  static constexpr std::array<const char*, 20> kOnes{
      "zero",     "one",     "two",     "three",     "four",     "five",    "six",
      "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",  "thirteen",
      "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
  static constexpr std::array<const char*, 10> kTens{
      "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
  const auto below_100 = [&](std::uint64_t v) {
    if (v < 20) return std::string(kOnes[v]);
    std::string s = kTens[v / 10];
    if (v % 10 != 0) s += std::string("-") + kOnes[v % 10];
    return s;
  };
  const auto below_1000 = [&](std::uint64_t v) {
    if (v < 100) return below_100(v);
    std::string s = std::string(kOnes[v / 100]) + " hundred";
    if (v % 100 != 0) s += " " + below_100(v % 100);
    return s;
  };
  if (n < 1000) return below_1000(n);
  std::string s = below_1000(n / 1000) + " thousand";
  if (n % 1000 != 0) s += " " + below_1000(n % 1000);
  return s;
}

TranslationData make_number_words(const NumberWordsOptions& options) {
  if (options.max_number > number_words_max) {
    throw DataError(fmt::format("number-words: max_number = {} exceeds the maximum {}",
                                options.max_number, number_words_max));
  }
  std::vector<TextPair> pairs;
  pairs.reserve(static_cast<std::size_t>(options.max_number) + 1);
  for (std::uint64_t n = 0; n <= options.max_number; ++n) {
    TextPair p{std::to_string(n), number_words(n)};
    if (within(p.src, options.max_len) && within(p.tgt, options.max_len)) {
      pairs.push_back(std::move(p));
    }
  }
  const std::string what = fmt::format("number-words (0 to {})", options.max_number);
  TranslationData out = split_and_encode(
      pairs, {options.train_size, options.validation_size, options.test_size, options.seed}, what);
  out.source = what;
  out.max_len = options.max_len;
  return out;
}

SequenceBatch make_batch(const SequencePairs& pairs, std::span<const std::size_t> indices,
                         std::size_t pad_src_to, std::size_t pad_tgt_to) {
  SequenceBatch b;
  b.batch_size = indices.size();
  b.src_len = pad_src_to;
  b.tgt_len = pad_tgt_to;
  for (const std::size_t i : indices) {
    if (i >= pairs.size()) {
      throw std::out_of_range(
          fmt::format("make_batch: pair {} of a split of {} pairs", i, pairs.size()));
    }
    b.src_len = std::max(b.src_len, pairs.src[i].size());
    b.tgt_len = std::max(b.tgt_len, pairs.tgt[i].size() + 1);
  }
  b.src.assign(b.batch_size * b.src_len, Vocab::pad_id);
  b.tgt_in.assign(b.batch_size * b.tgt_len, Vocab::pad_id);
  b.tgt_out.assign(b.batch_size * b.tgt_len, Vocab::pad_id);
  b.index.assign(indices.begin(), indices.end());
  for (std::size_t r = 0; r < b.batch_size; ++r) {
    const std::vector<std::int32_t>& src = pairs.src[indices[r]];
    const std::vector<std::int32_t>& tgt = pairs.tgt[indices[r]];
    std::copy(src.begin(), src.end(), b.src.begin() + static_cast<std::ptrdiff_t>(r * b.src_len));
    const auto row = static_cast<std::ptrdiff_t>(r * b.tgt_len);
    b.tgt_in[static_cast<std::size_t>(row)] = Vocab::bos_id;
    std::copy(tgt.begin(), tgt.end(), b.tgt_in.begin() + row + 1);
    std::copy(tgt.begin(), tgt.end(), b.tgt_out.begin() + row);
    b.tgt_out[static_cast<std::size_t>(row) + tgt.size()] = Vocab::eos_id;
    b.src_lengths.push_back(src.size());
    b.tgt_lengths.push_back(tgt.size() + 1);
  }
  return b;
}

}  // namespace fp8sim::workloads
