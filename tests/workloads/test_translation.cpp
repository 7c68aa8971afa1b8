// tests/workloads/test_translation.cpp — the sequence data of the translation Transformer
// (workloads/data/translation.hpp): UTF-8, the character vocabulary, the English -> German
// pairs of dict-freedict-eng-deu, the synthetic number-words task and padded batches. Reads
// only the bundled subset tests/data/freedict (523 index lines, see its README.md) and small
// files written to a temporary folder. Counts and split memberships marked "reference" come
// from an independent Python implementation of the extraction rules and the split hash.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "temp_dir.hpp"
#include "workloads/data/fashion_mnist.hpp"
#include "workloads/data/translation.hpp"

namespace fs = std::filesystem;
using namespace fp8sim::workloads;

namespace {

const fs::path kBundled = fs::path(FP8SIM_TEST_DATA_DIR) / "freedict";

struct TempDir : fp8sim::testing::TempDir {
  TempDir() : fp8sim::testing::TempDir("fp8sim-test-translation-") {}
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  FAIL_CHECK("no std::runtime_error thrown");
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string gunzip(const fs::path& file) {
  gzFile f = gzopen(file.string().c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string out;
  std::vector<char> buffer(1 << 16);
  for (;;) {
    const int r = gzread(f, buffer.data(), static_cast<unsigned>(buffer.size()));
    REQUIRE(r >= 0);
    if (r == 0) break;
    out.append(buffer.data(), static_cast<std::size_t>(r));
  }
  gzclose(f);
  return out;
}

void write_gzip(const fs::path& file, const std::string& bytes) {
  gzFile f = gzopen(file.string().c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!bytes.empty()) {
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
            static_cast<int>(bytes.size()));
  }
  REQUIRE(gzclose(f) == Z_OK);
}

TranslationOptions bundled(std::size_t max_len = 24, std::uint64_t seed = 0) {
  TranslationOptions o;
  o.dir = kBundled;
  o.max_len = max_len;
  o.seed = seed;
  return o;
}

const SequencePairs& split_of(const TranslationData& d, SplitPart part) {
  switch (part) {
    case SplitPart::train:
      return d.train;
    case SplitPart::validation:
      return d.validation;
    case SplitPart::test:
      return d.test;
  }
  return d.train;
}

// Where each source text is: split and index within it.
std::map<std::string, std::pair<SplitPart, std::size_t>> locate(const TranslationData& d) {
  std::map<std::string, std::pair<SplitPart, std::size_t>> where;
  for (const SplitPart part : {SplitPart::train, SplitPart::validation, SplitPart::test}) {
    const SequencePairs& s = split_of(d, part);
    for (std::size_t i = 0; i < s.size(); ++i) {
      const bool fresh = where.emplace(s.src_text[i], std::pair{part, i}).second;
      CHECK_MESSAGE(fresh, "source text twice: " << s.src_text[i]);
    }
  }
  return where;
}

std::set<std::string> text_set(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

bool is_prefix(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Every pair of every split encodes its texts with the data's vocabularies (unknown -> unk).
void check_encoding(const TranslationData& d) {
  for (const SplitPart part : {SplitPart::train, SplitPart::validation, SplitPart::test}) {
    const SequencePairs& s = split_of(d, part);
    REQUIRE(s.src.size() == s.size());
    REQUIRE(s.tgt.size() == s.size());
    REQUIRE(s.src_text.size() == s.size());
    REQUIRE(s.tgt_text.size() == s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
      for (const auto& [ids, text, vocab] : {std::tuple{&s.src[i], &s.src_text[i], &d.src_vocab},
                                             std::tuple{&s.tgt[i], &s.tgt_text[i], &d.tgt_vocab}}) {
        const std::u32string cps = decode_utf8(*text);
        REQUIRE(ids->size() == cps.size());
        for (std::size_t k = 0; k < cps.size(); ++k) {
          CHECK((*ids)[k] == vocab->id(cps[k]));
          if (part == SplitPart::train) CHECK((*ids)[k] >= Vocab::special_count);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("translation.utf8: round trip with umlauts, strict decoding") {
  const std::string text = "Straßensammlung Wassersäule Zauberflöte ÄÖÜ … €𝄞";
  const std::u32string cps = decode_utf8(text);
  CHECK(cps.size() == 48);
  CHECK(cps[4] == U'ß');
  CHECK(cps[4] == 0xDF);
  CHECK(cps[23] == 0xE4);  // ä
  CHECK(cps[36] == 0xF6);  // ö
  CHECK(cps[40] == 0xC4);  // Ä
  CHECK(cps[42] == 0xDC);  // Ü
  CHECK(cps[44] == 0x2026);
  CHECK(cps[46] == 0x20AC);
  CHECK(cps[47] == 0x1D11E);
  CHECK(cps[3] == U'a');
  CHECK(encode_utf8(cps) == text);
  CHECK(encode_utf8(U"weiß") == "wei\xC3\x9F");
  CHECK(decode_utf8("").empty());
  CHECK(decode_utf8("\xF4\x8F\xBF\xBF") == std::u32string{0x10FFFF});

  CHECK(contains(error_of([] { (void)decode_utf8("ab\xC3"); }), "invalid UTF-8 at byte 2"));
  CHECK(contains(error_of([] { (void)decode_utf8("\x80"); }), "invalid UTF-8 at byte 0"));
  CHECK(contains(error_of([] { (void)decode_utf8("\xC0\xAF"); }), "invalid UTF-8"));  // overlong
  CHECK(contains(error_of([] { (void)decode_utf8("\xE0\x80\xAF"); }), "invalid UTF-8"));
  CHECK(contains(error_of([] { (void)decode_utf8("\xED\xA0\x80"); }), "invalid UTF-8"));  // D800
  CHECK(contains(error_of([] { (void)decode_utf8("\xF4\x90\x80\x80"); }), "invalid UTF-8"));
  CHECK(contains(error_of([] { (void)decode_utf8("x\xC3(y"); }), "invalid UTF-8 at byte 1"));
  CHECK_THROWS_AS((void)encode_utf8(std::u32string{0xD800}), DataError);
  CHECK_THROWS_AS((void)encode_utf8(std::u32string{0x110000}), DataError);
}

TEST_CASE("translation.vocab: special ids, characters by code point, encode and decode") {
  CHECK(Vocab::pad_id == 0);
  CHECK(Vocab::bos_id == 1);
  CHECK(Vocab::eos_id == 2);
  CHECK(Vocab::unk_id == 3);
  CHECK(Vocab::special_count == 4);
  CHECK(Vocab().size() == 4);

  const std::vector<std::string> texts{"bab", "ä€ a"};
  const Vocab v = Vocab::from_texts(texts);
  CHECK(v.characters() == std::vector<char32_t>{U' ', U'a', U'b', 0xE4, 0x20AC});
  CHECK(v.size() == 9);
  CHECK(v.id(U' ') == 4);
  CHECK(v.id(U'a') == 5);
  CHECK(v.id(U'b') == 6);
  CHECK(v.id(U'ä') == 7);
  CHECK(v.id(U'€') == 8);
  CHECK(v.id(U'z') == Vocab::unk_id);
  CHECK(v.contains(U'ä'));
  CHECK(!v.contains(U'ö'));
  CHECK(v.character(7) == 0xE4);
  CHECK_THROWS_AS((void)v.character(Vocab::eos_id), std::out_of_range);
  CHECK_THROWS_AS((void)v.character(9), std::out_of_range);

  // the ids depend on the set of characters only
  const std::vector<std::string> other{"€ä", "a b", "aaa"};
  CHECK(Vocab::from_texts(other) == v);
  CHECK(Vocab({0x20AC, U'b', U'a', U'a', 0xE4, U' '}) == v);

  using Ids = std::vector<std::int32_t>;
  CHECK(v.encode("baä z") == Ids{6, 5, 7, 4, 3});
  CHECK(v.decode(Ids{6, 5, 7}) == "baä");
  CHECK(v.decode(Ids{1, 6, 5, 2, 5, 5}) == "ba");  // bos skipped, eos ends
  CHECK(v.decode(Ids{0, 8, 0, 0}) == "€");         // pad skipped
  CHECK(v.decode(Ids{6, 3, 6}) ==
        "b\xEF\xBF\xBD"
        "b");  // unk: U+FFFD
  CHECK_THROWS_AS((void)v.decode(Ids{9}), std::out_of_range);
  CHECK_THROWS_AS((void)v.decode(Ids{-1}), std::out_of_range);
  CHECK(v.decode(v.encode("ä€ab ba")) == "ä€ab ba");
  CHECK_THROWS_AS((void)v.encode("\xC3"), DataError);
  const std::vector<std::string> bad{"ok", "\xFF"};
  CHECK_THROWS_AS((void)Vocab::from_texts(bad), DataError);
  CHECK_THROWS_AS((void)Vocab({0xD800}), DataError);
}

TEST_CASE("translation.freedict: known pairs of the bundled subset") {
  const TranslationData d = load_freedict_eng_deu(bundled());
  CHECK(contains(d.source, "freedict-eng-deu"));
  CHECK(contains(d.source, kBundled.string()));
  CHECK(d.max_len == 24);
  // reference: 438 pairs within 24 characters, 343 / 39 / 56
  CHECK(d.train.size() == 343);
  CHECK(d.validation.size() == 39);
  CHECK(d.test.size() == 56);
  check_encoding(d);

  const auto where = locate(d);
  struct Known {
    const char* en;
    const char* de;
    SplitPart part;
  };
  // (what each shows, from the raw entry)
  const std::vector<Known> known{
      {"water column", "Wassersäule", SplitPart::train},               // "Wassersäule <fem>"
      {"pedal reflector", "Pedalrückstrahler", SplitPart::train},      // ü
      {"white", "weiß", SplitPart::train},                             // "weiß <adj>"
      {"White", "White River", SplitPart::train},                      // case kept, same split
      {"'The Magic Flute'", "\"Die Zauberflöte\"", SplitPart::train},  // "... [mus.]"
      {"edit", "aufbereiten", SplitPart::train},  // "edit /ˈɛdɪt/ <v>", first of 3 entries
      {"levy", "Abgabe", SplitPart::train},       // "Abgabe <fem> [staatliche] , ...", 1st of 9
      {"the fold", "jds. angestammter Platz", SplitPart::train},  // " [fig.] ... <masc> [soc.]"
      {"abide", "aushalten", SplitPart::train},  // line 1 with inflections, "aushalten, ..."
      {"acute", "Akut", SplitPart::train},       // "acute /ɐkjˈuːt/ (´)", "Akut <masc>, ..."
      {"the nuts and bolts", "das A und O", SplitPart::train},  // " [coll.] das A und O [ugs.]"
      {"bomber", "Bombenattentäter", SplitPart::train},
      {"veterinaries", "Tierärzte", SplitPart::train},
      {"street collection", "Straßensammlung", SplitPart::test},
      {"left parenthesis", "öffnende runde Klammer", SplitPart::test},  // "... Klammer("
      {"tipped", "abgelagert", SplitPart::test},
      {"thirstiness", "Durstigkeit", SplitPart::test},
  };
  for (const Known& k : known) {
    CAPTURE(k.en);
    const auto it = where.find(k.en);
    REQUIRE(it != where.end());
    CHECK(it->second.first == k.part);
    CHECK(translation_split_of(k.en) == k.part);
    const SequencePairs& s = split_of(d, it->second.first);
    const std::size_t i = it->second.second;
    CHECK(s.tgt_text[i] == k.de);
    CHECK(d.tgt_vocab.decode(s.tgt[i]) == k.de);  // every character is in the train split
    CHECK(d.src_vocab.decode(s.src[i]) == k.en);
  }

  // skipped: the metadata, a comma in the English, a German side without a letter
  for (const auto& [src, at] : where) {
    CHECK(!src.starts_with("00"));
    CHECK(!contains(src, "FreeDict"));
    CHECK(!contains(src, ","));
    CHECK(!contains(src, "/ɐ"));  // no pronunciation left
  }
  const TranslationData all = load_freedict_eng_deu(bundled(0));
  const auto where_all = locate(all);
  CHECK(where_all.count("'All rise,' intoned the usher.") == 0);
  CHECK(where_all.count("National Institute of Occupational Safety and Health") == 0);
  CHECK(where_all.size() == 488);  // reference

  // the vocabularies hold exactly the characters of the train split, by code point
  std::set<char32_t> src_chars, tgt_chars;
  for (std::size_t i = 0; i < d.train.size(); ++i) {
    for (const char32_t c : decode_utf8(d.train.src_text[i])) src_chars.insert(c);
    for (const char32_t c : decode_utf8(d.train.tgt_text[i])) tgt_chars.insert(c);
  }
  CHECK(d.src_vocab.characters() == std::vector<char32_t>(src_chars.begin(), src_chars.end()));
  CHECK(d.tgt_vocab.characters() == std::vector<char32_t>(tgt_chars.begin(), tgt_chars.end()));
  CHECK(d.tgt_vocab.contains(U'ß'));
  CHECK(d.tgt_vocab.contains(U'ä'));
  CHECK(d.tgt_vocab.contains(U'…'));
  CHECK(d.tgt_vocab.id(U' ') == Vocab::special_count);  // the smallest code point
}

TEST_CASE("translation.freedict: max_len is respected and never changes a translation") {
  const TranslationData all = load_freedict_eng_deu(bundled(0));
  const auto where_all = locate(all);
  CHECK(where_all.count("right parenthesis") == 1);  // -> "schließende runde Klammer", 25
  for (const std::size_t max_len : {24U, 10U, 6U}) {
    CAPTURE(max_len);
    const TranslationData d = load_freedict_eng_deu(bundled(max_len));
    const auto where = locate(d);
    CHECK(!where.empty());
    CHECK(where.size() < where_all.size());
    CHECK(where.count("right parenthesis") == 0);
    for (const SplitPart part : {SplitPart::train, SplitPart::validation, SplitPart::test}) {
      const SequencePairs& s = split_of(d, part);
      for (std::size_t i = 0; i < s.size(); ++i) {
        CHECK(decode_utf8(s.src_text[i]).size() <= max_len);
        CHECK(decode_utf8(s.tgt_text[i]).size() <= max_len);
        CHECK(!s.src_text[i].empty());
        CHECK(!s.tgt_text[i].empty());
        CHECK(s.tgt_text[i].front() != ' ');
        CHECK(s.tgt_text[i].back() != ' ');
        // the same pair, in the same split, as without a limit
        const auto it = where_all.find(s.src_text[i]);
        REQUIRE(it != where_all.end());
        CHECK(it->second.first == part);
        CHECK(split_of(all, part).tgt_text[it->second.second] == s.tgt_text[i]);
      }
    }
  }
  // "levy" -> "Abgabe" (6 characters) at max_len 6 still takes the first entry's translation
  CHECK(locate(load_freedict_eng_deu(bundled(6))).count("levy") == 1);
}

TEST_CASE("translation.split: by hash, disjoint, stable under sizes, seeds order it") {
  // pinned (reference)
  CHECK(translation_split_of("407") == SplitPart::train);
  CHECK(translation_split_of("10") == SplitPart::validation);
  CHECK(translation_split_of("2") == SplitPart::test);
  CHECK(translation_split_of("street collection") == SplitPart::test);
  CHECK(translation_split_of("Straßensammlung") == SplitPart::validation);
  CHECK(translation_split_of("water column") == SplitPart::train);
  CHECK(translation_split_of("WHITE") == translation_split_of("white"));  // ASCII case folded
  // roughly 80 / 10 / 10
  std::map<SplitPart, int> hist;
  for (int n = 0; n < 10000; ++n) ++hist[translation_split_of(std::to_string(n) + " x")];
  CHECK(hist[SplitPart::train] > 7700);
  CHECK(hist[SplitPart::train] < 8300);
  CHECK(hist[SplitPart::validation] > 850);
  CHECK(hist[SplitPart::test] > 850);

  const TranslationData a = load_freedict_eng_deu(bundled(24, 1));
  const std::set<std::string> tr = text_set(a.train.src_text);
  const std::set<std::string> va = text_set(a.validation.src_text);
  const std::set<std::string> te = text_set(a.test.src_text);
  CHECK(tr.size() == a.train.size());
  for (const std::string& s : tr) CHECK(translation_split_of(s) == SplitPart::train);
  for (const std::string& s : va) CHECK(translation_split_of(s) == SplitPart::validation);
  for (const std::string& s : te) CHECK(translation_split_of(s) == SplitPart::test);
  for (const std::string& s : va) CHECK(tr.count(s) == 0);
  for (const std::string& s : te) CHECK(tr.count(s) + va.count(s) == 0);

  // deterministic
  const TranslationData again = load_freedict_eng_deu(bundled(24, 1));
  CHECK(again.train.src == a.train.src);
  CHECK(again.train.tgt == a.train.tgt);
  CHECK(again.test.tgt_text == a.test.tgt_text);
  CHECK(again.tgt_vocab == a.tgt_vocab);

  // another seed: the same splits, another order
  const TranslationData b = load_freedict_eng_deu(bundled(24, 2));
  CHECK(text_set(b.train.src_text) == tr);
  CHECK(text_set(b.validation.src_text) == va);
  CHECK(text_set(b.test.src_text) == te);
  CHECK(b.train.src_text != a.train.src_text);
  CHECK(b.validation.src_text != a.validation.src_text);
  CHECK(b.src_vocab == a.src_vocab);  // the whole train split either way

  // smaller sizes: prefixes of the seed's order, so subsets of the same split
  TranslationOptions o = bundled(24, 1);
  o.train_size = 100;
  o.validation_size = 10;
  o.test_size = 20;
  const TranslationData small = load_freedict_eng_deu(o);
  CHECK(small.train.size() == 100);
  CHECK(small.validation.size() == 10);
  CHECK(small.test.size() == 20);
  CHECK(is_prefix(small.train.src_text, a.train.src_text));
  CHECK(is_prefix(small.validation.src_text, a.validation.src_text));
  CHECK(is_prefix(small.test.src_text, a.test.src_text));
  o.train_size = 50;
  CHECK(is_prefix(load_freedict_eng_deu(o).train.src_text, small.train.src_text));
  check_encoding(small);
  // the vocabulary of 100 training pairs is smaller; the other splits may then hold unk
  CHECK(small.tgt_vocab.size() < a.tgt_vocab.size());

  // another seed, the same sizes: another subset of the same split
  o.train_size = 100;
  o.seed = 2;
  const TranslationData small2 = load_freedict_eng_deu(o);
  CHECK(small2.train.src_text != small.train.src_text);
  for (const std::string& s : small2.train.src_text) CHECK(tr.count(s) == 1);
  for (const std::string& s : small2.test.src_text) CHECK(te.count(s) == 1);

  // sizes larger than a split
  o = bundled(24, 1);
  o.train_size = 344;
  CHECK(contains(error_of([&] { (void)load_freedict_eng_deu(o); }),
                 "train_size = 344 exceeds the maximum 343"));
  o.train_size = 343;
  o.validation_size = 40;
  CHECK(contains(error_of([&] { (void)load_freedict_eng_deu(o); }),
                 "validation_size = 40 exceeds the maximum 39"));
  o.validation_size = 39;
  o.test_size = 57;
  CHECK(contains(error_of([&] { (void)load_freedict_eng_deu(o); }),
                 "test_size = 57 exceeds the maximum 56"));
  o.test_size = 56;
  CHECK(load_freedict_eng_deu(o).test.size() == 56);
}

TEST_CASE("translation.number words: the rule and exact examples") {
  CHECK(number_words(0) == "zero");
  CHECK(number_words(7) == "seven");
  CHECK(number_words(13) == "thirteen");
  CHECK(number_words(20) == "twenty");
  CHECK(number_words(21) == "twenty-one");
  CHECK(number_words(90) == "ninety");
  CHECK(number_words(100) == "one hundred");
  CHECK(number_words(101) == "one hundred one");
  CHECK(number_words(407) == "four hundred seven");
  CHECK(number_words(999) == "nine hundred ninety-nine");
  CHECK(number_words(1000) == "one thousand");
  CHECK(number_words(12345) == "twelve thousand three hundred forty-five");
  CHECK(number_words(100010) == "one hundred thousand ten");
  CHECK(number_words(999999) == "nine hundred ninety-nine thousand nine hundred ninety-nine");
  CHECK_THROWS_AS((void)number_words(1000000), std::out_of_range);

  const TranslationData d = make_number_words();
  CHECK(contains(d.source, "number-words"));
  // reference: 1000 numbers, 783 / 99 / 118
  CHECK(d.train.size() == 783);
  CHECK(d.validation.size() == 99);
  CHECK(d.test.size() == 118);
  check_encoding(d);
  const auto where = locate(d);
  CHECK(where.size() == 1000);
  for (const auto& [src, at] : where) {
    CHECK(split_of(d, at.first).tgt_text[at.second] == number_words(std::stoull(src)));
  }
  const auto it = where.find("407");
  REQUIRE(it != where.end());
  CHECK(it->second.first == SplitPart::train);
  CHECK(d.tgt_vocab.decode(d.train.tgt[it->second.second]) == "four hundred seven");
  CHECK(d.src_vocab.decode(d.train.src[it->second.second]) == "407");
  CHECK(d.train.src[it->second.second] == std::vector<std::int32_t>{8, 4, 11});  // '0' is id 4
  CHECK(d.src_vocab.characters() == std::vector<char32_t>(U"0123456789", U"0123456789" + 10));
  const std::u32string words = U" -defghilnorstuvwxyz";  // reference
  CHECK(d.tgt_vocab.characters() == std::vector<char32_t>(words.begin(), words.end()));
  CHECK(where.find("10")->second.first == SplitPart::validation);
  CHECK(where.find("2")->second.first == SplitPart::test);

  // the split of a number does not depend on how many numbers there are
  NumberWordsOptions o;
  o.max_number = 99;
  const TranslationData small = make_number_words(o);
  for (const auto& [src, at] : locate(small)) CHECK(where.at(src).first == at.first);
  o.max_number = 20000;
  for (const auto& [src, at] : locate(make_number_words(o))) {
    if (std::stoull(src) <= 999) CHECK(where.at(src).first == at.first);
  }

  // max_len
  o = {};
  o.max_len = 12;
  const TranslationData short_words = make_number_words(o);
  CHECK(short_words.train.size() == 76);  // reference
  CHECK(short_words.validation.size() == 9);
  CHECK(short_words.test.size() == 18);
  for (const auto& [src, at] : locate(short_words)) {
    CHECK(number_words(std::stoull(src)).size() <= 12);
  }
  CHECK(locate(short_words).count("407") == 0);

  // seeds: order, not membership; sizes: prefixes
  o = {};
  o.seed = 5;
  const TranslationData s5 = make_number_words(o);
  CHECK(s5.train.src_text != d.train.src_text);
  CHECK(text_set(s5.train.src_text) == text_set(d.train.src_text));
  o.train_size = 30;
  o.test_size = 5;
  const TranslationData s5small = make_number_words(o);
  CHECK(s5small.train.size() == 30);
  CHECK(s5small.validation.size() == 99);
  CHECK(is_prefix(s5small.train.src_text, s5.train.src_text));
  CHECK(is_prefix(s5small.test.src_text, s5.test.src_text));
  CHECK(make_number_words(o).train.src == s5small.train.src);

  o = {};
  o.max_number = 1000000;
  CHECK(contains(error_of([&] { (void)make_number_words(o); }),
                 "max_number = 1000000 exceeds the maximum 999999"));
  o.max_number = 999;
  o.test_size = 119;
  CHECK(contains(error_of([&] { (void)make_number_words(o); }),
                 "test_size = 119 exceeds the maximum 118"));
}

TEST_CASE("translation.batch: padding, bos and eos") {
  SequencePairs p;
  p.src = {{4, 5, 6}, {7}, {8, 9}};
  p.tgt = {{10}, {11, 12, 13, 14}, {15, 16}};
  p.src_text = {"abc", "d", "ef"};
  p.tgt_text = {"g", "hijk", "lm"};
  const std::vector<std::size_t> idx{2, 0, 1};
  const SequenceBatch b = make_batch(p, idx);
  CHECK(b.batch_size == 3);
  CHECK(b.src_len == 3);
  CHECK(b.tgt_len == 5);
  using Ids = std::vector<std::int32_t>;
  CHECK(b.src == Ids{8, 9, 0, 4, 5, 6, 7, 0, 0});
  CHECK(b.tgt_in == Ids{1, 15, 16, 0, 0, 1, 10, 0, 0, 0, 1, 11, 12, 13, 14});
  CHECK(b.tgt_out == Ids{15, 16, 2, 0, 0, 10, 2, 0, 0, 0, 11, 12, 13, 14, 2});
  CHECK(b.src_lengths == std::vector<std::size_t>{2, 3, 1});
  CHECK(b.tgt_lengths == std::vector<std::size_t>{3, 2, 5});
  CHECK(b.index == idx);

  const SequenceBatch padded = make_batch(p, std::vector<std::size_t>{1}, 4, 7);
  CHECK(padded.src == Ids{7, 0, 0, 0});
  CHECK(padded.tgt_in == Ids{1, 11, 12, 13, 14, 0, 0});
  CHECK(padded.tgt_out == Ids{11, 12, 13, 14, 2, 0, 0});
  CHECK(make_batch(p, std::vector<std::size_t>{1}, 0, 2).tgt_len == 5);  // never cuts
  CHECK(make_batch(p, std::vector<std::size_t>{}).batch_size == 0);
  CHECK_THROWS_AS((void)make_batch(p, std::vector<std::size_t>{3}), std::out_of_range);

  // from an epoch order of real data: each row decodes to its pair
  const TranslationData d = make_number_words();
  const EpochOrder order(d.train.size(), 9);
  const std::vector<std::size_t> perm = order.permutation(0);
  const SequenceBatch e = make_batch(d.train, std::span(perm).subspan(8, 16));
  REQUIRE(e.batch_size == 16);
  for (std::size_t r = 0; r < e.batch_size; ++r) {
    const std::size_t i = perm[8 + r];
    CHECK(e.index[r] == i);
    const auto row = [&](const std::vector<std::int32_t>& v, std::size_t len) {
      return std::vector<std::int32_t>(v.begin() + static_cast<std::ptrdiff_t>(r * len),
                                       v.begin() + static_cast<std::ptrdiff_t>((r + 1) * len));
    };
    CHECK(d.src_vocab.decode(row(e.src, e.src_len)) == d.train.src_text[i]);
    CHECK(d.tgt_vocab.decode(row(e.tgt_in, e.tgt_len)) == d.train.tgt_text[i]);
    CHECK(d.tgt_vocab.decode(row(e.tgt_out, e.tgt_len)) == d.train.tgt_text[i]);
    CHECK(e.tgt_out[r * e.tgt_len + e.tgt_lengths[r] - 1] == Vocab::eos_id);
  }
}

TEST_CASE("translation.freedict: a missing folder or file names the package") {
  TempDir tmp;
  TranslationOptions o;
  o.dir = tmp.path() / "no-such-folder";
  std::string msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, o.dir.string()));
  CHECK(contains(msg, "dict-freedict-eng-deu"));
  CHECK(contains(msg, "install it: apt-get install dict-freedict-eng-deu"));

  o.dir = tmp.path();
  write_bytes(tmp.path() / "freedict-eng-deu.index",
              read_bytes(kBundled / "freedict-eng-deu.index"));
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, (tmp.path() / "freedict-eng-deu.dict.dz").string() + ": no such file"));
  CHECK(contains(msg, "install it: apt-get install dict-freedict-eng-deu"));

  // an uncompressed .dict stands in for the .dz
  write_bytes(tmp.path() / "freedict-eng-deu.dict", gunzip(kBundled / "freedict-eng-deu.dict.dz"));
  const TranslationData plain = load_freedict_eng_deu(o);
  const TranslationData ref = load_freedict_eng_deu(bundled());
  CHECK(plain.train.src_text == ref.train.src_text);
  CHECK(plain.test.tgt == ref.test.tgt);

  fs::remove(tmp.path() / "freedict-eng-deu.index");
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, (tmp.path() / "freedict-eng-deu.index").string() + ": no such file"));
  CHECK(contains(msg, "apt-get install dict-freedict-eng-deu"));

  // the default folder is Debian's
  CHECK(std::string(freedict_default_dir) == "/usr/share/dictd");
}

TEST_CASE("translation.freedict: a corrupt or truncated index or dictionary names the file") {
  TempDir tmp;
  TranslationOptions o;
  o.dir = tmp.path();
  const fs::path index = tmp.path() / "freedict-eng-deu.index";
  const fs::path dict = tmp.path() / "freedict-eng-deu.dict.dz";
  const std::string real_index = read_bytes(kBundled / "freedict-eng-deu.index");
  const std::string real_dict = read_bytes(kBundled / "freedict-eng-deu.dict.dz");
  write_bytes(dict, real_dict);

  // the first n lines of the real index
  const auto lines = [&](std::size_t n) {
    std::size_t pos = 0;
    for (std::size_t i = 0; i < n; ++i) pos = real_index.find('\n', pos) + 1;
    return real_index.substr(0, pos);
  };
  write_bytes(index, lines(60));
  CHECK(load_freedict_eng_deu(o).train.size() > 0);

  // cut in the middle of line 61
  const std::string first60 = lines(60);
  write_bytes(index, first60 + lines(61).substr(first60.size(), 5));
  std::string msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, index.string() + ":61: the last line has no newline"));

  write_bytes(index, first60 + "broken line without tabs\n");
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, index.string() + ":61: 1 tab-separated fields, want 3"));

  write_bytes(index, first60 + "word\tAB*C\tB\n");
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, index.string() + ":61: bad offset: '*' is not a base64 digit"));

  write_bytes(index, first60 + "word\tABC\t\n");
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, index.string() + ":61: bad length: empty"));

  write_bytes(index, "");
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, index.string() + ": empty file"));

  // an entry past the end of the dictionary: "////" = 16777215
  write_bytes(index, first60 + "word\t////\tB\n");
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, dict.string() + ": the entry at offset 16777215 of length 1 (" +
                          index.string() + ":61) runs past the end"));

  // a gzip stream cut short
  write_bytes(index, real_index);
  write_bytes(dict, real_dict.substr(0, real_dict.size() / 2));
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, dict.string() + ": gzip stream cut short"));

  // corrupt compressed data
  std::string corrupt = real_dict;
  for (std::size_t i = 100; i < 200; ++i) corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5A);
  write_bytes(dict, corrupt);
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, dict.string() + ": "));

  // an entry that is not UTF-8
  write_gzip(dict, std::string("water /w/\nWass\xC3(r\n"));
  write_bytes(index, "water\tA\tS\n");
  msg = error_of([&] { (void)load_freedict_eng_deu(o); });
  CHECK(contains(msg, dict.string() + ": the entry at offset 0 (" + index.string() +
                          ":1) is not valid UTF-8 (at byte 14"));

  // a tiny well-formed dictionary: the rules on hand-made entries
  const std::string entries =
      "00-database-info\nabout\n"                   // metadata
      "tree /tɹˈiː/\nBaum <masc> [bot.], Gehölz\n"  // pronunciation, grammar, alternatives
      "be / get (sth.) ready /biː/ <v>\n [coll.] (sich) fertig machen, bereit\n"
      "Ha, ha! /hˈɑː/\nHa, ha!\n"  // comma in the English: skipped
      "x /ɛks/\n?\n"               // no letter: skipped
      "Honour to whom honour is due. /ˈɒnə/\nEhre, wem Ehre gebührt.\n"  // a sentence: whole
      "At ease! /at ˈiːz/\nRührt Euch!, Rühren! [mil.]\n"                // sentence alternatives
      "What's up? /wɒts ˈʌp/\nWas tut sich (gerade)?\n";                 // no blank before ?
  write_gzip(dict, entries);
  const auto at = [&](const std::string& start) { return entries.find(start); };
  const auto b64 = [](std::size_t v) {
    static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string s;
    do {
      s.insert(s.begin(), digits[v % 64]);
      v /= 64;
    } while (v != 0);
    return s;
  };
  std::string idx;
  const std::vector<std::string> starts{"00-database-info", "tree",    "be / get", "Ha, ha", "x /",
                                        "Honour to",        "At ease", "What's"};
  const std::vector<std::string> keys{"00databaseinfo", "tree",    "be  get sth ready",
                                      "ha ha",          "x",       "honour to whom honour is due",
                                      "at ease",        "whats up"};
  for (std::size_t k = 0; k < starts.size(); ++k) {
    const std::size_t begin = at(starts[k]);
    const std::size_t end = k + 1 < starts.size() ? at(starts[k + 1]) : entries.size();
    idx += keys[k] + "\t" + b64(begin) + "\t" + b64(end - begin) + "\n";
  }
  idx += "tree\t" + b64(at("tree")) + "\tB\n";  // the same entry again: once
  write_bytes(index, idx);
  o.max_len = 0;
  const TranslationData tiny = load_freedict_eng_deu(o);
  std::map<std::string, std::string> got;
  for (const SplitPart part : {SplitPart::train, SplitPart::validation, SplitPart::test}) {
    const SequencePairs& s = split_of(tiny, part);
    for (std::size_t i = 0; i < s.size(); ++i) got[s.src_text[i]] = s.tgt_text[i];
  }
  CHECK(got == std::map<std::string, std::string>{
                   {"tree", "Baum"},
                   {"be / get ready", "fertig machen"},
                   {"Honour to whom honour is due.", "Ehre, wem Ehre gebührt."},
                   {"At ease!", "Rührt Euch!"},
                   {"What's up?", "Was tut sich?"}});
}
