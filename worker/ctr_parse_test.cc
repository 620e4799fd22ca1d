// One line at a time: the Criteo and libsvm parsers, the key rule, every bad-row reason.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/testing.h"
#include "worker/criteo_reader.h"
#include "worker/ctr_batch.h"
#include "worker/libsvm_reader.h"

namespace psd {
namespace {

// A Criteo line of the default layout: label, 13 integers, 26 hashes (field j holds hash j+1).
std::vector<std::string> CriteoColumns() {
  std::vector<std::string> c = {"1"};
  for (int j = 0; j < 13; ++j) c.push_back(std::to_string(j));
  for (int j = 0; j < 26; ++j) c.push_back(absl::StrCat(absl::Hex(j + 1, absl::kZeroPad8)));
  return c;
}
std::string Join(const std::vector<std::string>& c) { return absl::StrJoin(c, "\t"); }

// The message of a Criteo line that must fail, as "column N: message"; the batch unchanged.
std::string CriteoError(const std::string& line, BadRowReason want,
                        const CriteoLayout& layout = {}) {
  CtrBatch batch;
  batch.dense_dim = layout.dense;
  BadRow bad;
  CHECK(!ParseCriteoLine(line, layout, &batch, &bad));
  CHECK(bad.reason == want);
  CHECK(batch.rows() == 0);
  CHECK(batch.dense.empty());
  CHECK(batch.keys.empty());
  return absl::StrCat("column ", bad.column, ": ", bad.message);
}

std::string LibsvmError(const std::string& line, BadRowReason want) {
  CtrBatch batch;
  BadRow bad;
  CHECK(!ParseLibsvmLine(line, &batch, &bad));
  CHECK(bad.reason == want);
  CHECK(batch.rows() == 0);
  CHECK(batch.keys.empty());
  CHECK(batch.values.empty());
  return absl::StrCat("column ", bad.column, ": ", bad.message);
}

TEST_CASE("The Criteo key rule keeps fields and missing values apart") {
  CHECK(CriteoKey(0, 0x1234) != CriteoKey(1, 0x1234));
  CHECK(CriteoMissingKey(3) != CriteoKey(3, 0));
  CHECK(CriteoMissingKey(3) != CriteoKey(3, kCriteoHashLimit - 1));
  CHECK(CriteoKeyField(CriteoKey(25, 0xabc)) == 25);
  CHECK(CriteoKeyHash(CriteoKey(25, 0xabc)) == 0xabc);
  CHECK(!CriteoKeyMissing(CriteoKey(25, 0xabc)));
  CHECK(CriteoKeyMissing(CriteoMissingKey(25)));
  CHECK(CriteoKeyField(CriteoMissingKey(255)) == 255);
}

TEST_CASE("A Criteo line parses to label, log(1+x) dense features and field keys") {
  std::vector<std::string> c = CriteoColumns();
  c[3] = "-5";         // negative: clamped to 0
  c[4] = "";           // empty integer: 0
  c[14] = "";          // empty categorical (field 0): the missing key
  c[15] = "DEADbeef";  // hex, either case
  CtrBatch batch;
  batch.dense_dim = 13;
  BadRow bad;
  REQUIRE(ParseCriteoLine(Join(c) + "\r", CriteoLayout{}, &batch, &bad));
  REQUIRE(batch.rows() == 1);
  CHECK(batch.labels[0] == 1.0f);
  REQUIRE(batch.dense.size() == 13);
  CHECK(batch.dense[0] == 0.0f);
  CHECK(batch.dense[1] == static_cast<float>(std::log1p(1.0)));
  CHECK(batch.dense[2] == 0.0f);
  CHECK(batch.dense[3] == 0.0f);
  CHECK(batch.dense[12] == static_cast<float>(std::log1p(12.0)));
  REQUIRE(batch.keys.size() == 26);
  CHECK(batch.row_offsets == std::vector<int64_t>{0, 26});
  CHECK(batch.keys[0] == CriteoMissingKey(0));
  CHECK(batch.keys[1] == CriteoKey(1, 0xdeadbeef));
  CHECK(batch.keys[25] == CriteoKey(25, 26));
  CHECK(batch.values == std::vector<float>(26, 1.0f));
  // A second row appends.
  c[0] = "0";
  REQUIRE(ParseCriteoLine(Join(c), CriteoLayout{}, &batch, &bad));
  CHECK(batch.rows() == 2);
  CHECK(batch.labels[1] == 0.0f);
  CHECK(batch.row_offsets == std::vector<int64_t>{0, 26, 52});
  // Every feature empty.
  std::vector<std::string> empty(40, "");
  empty[0] = "0";
  REQUIRE(ParseCriteoLine(Join(empty), CriteoLayout{}, &batch, &bad));
  CHECK(batch.keys.back() == CriteoMissingKey(25));
}

TEST_CASE("A Criteo line of another layout") {
  CtrBatch batch;
  batch.dense_dim = 1;
  BadRow bad;
  REQUIRE(ParseCriteoLine("1\t7\tff\t", CriteoLayout{1, 2}, &batch, &bad));
  CHECK(batch.dense == std::vector<float>{static_cast<float>(std::log1p(7.0))});
  CHECK(batch.keys == std::vector<uint64_t>{CriteoKey(0, 0xff), CriteoMissingKey(1)});
  CtrBatch no_dense;
  REQUIRE(ParseCriteoLine("0\t1", CriteoLayout{0, 1}, &no_dense, &bad));
  CHECK(no_dense.keys == std::vector<uint64_t>{CriteoKey(0, 1)});
}

TEST_CASE("Every bad Criteo row names its column and reason") {
  std::vector<std::string> c = CriteoColumns();
  CHECK(CriteoError("", BadRowReason::kEmptyLine) == "column 1: empty line");
  CHECK(CriteoError("\r", BadRowReason::kEmptyLine) == "column 1: empty line");
  std::vector<std::string> short_row(c.begin(), c.end() - 1);
  CHECK(CriteoError(Join(short_row), BadRowReason::kColumnCount) ==
        "column 40: missing: the row has 39 columns, the layout 40 (label, 13 integer, 26 "
        "categorical)");
  CHECK(CriteoError(Join(c) + "\t", BadRowReason::kColumnCount) ==
        "column 41: extra column: the row has 41 columns, the layout 40 (label, 13 integer, 26 "
        "categorical)");
  for (const char* label : {"2", "", "01", "1.0", "-1"}) {
    std::vector<std::string> b = c;
    b[0] = label;
    CHECK(CriteoError(Join(b), BadRowReason::kBadLabel) ==
          absl::StrCat("column 1: label must be 0 or 1: '", label, "'"));
  }
  for (const char* x : {"x1", "1.5", "-", " 1", "99999999999999999999", "9223372036854775808"}) {
    std::vector<std::string> b = c;
    b[5] = x;
    CHECK(CriteoError(Join(b), BadRowReason::kBadInteger) ==
          absl::StrCat("column 6: not an integer: '", x, "'"));
  }
  {
    std::vector<std::string> b = c;
    b[13] = "-9223372036854775808";  // the smallest int64 parses (and clamps to 0)
    CtrBatch batch;
    batch.dense_dim = 13;
    BadRow bad;
    CHECK(ParseCriteoLine(Join(b), CriteoLayout{}, &batch, &bad));
  }
  std::vector<std::string> b = c;
  b[14] = "zz";
  CHECK(CriteoError(Join(b), BadRowReason::kBadHash) == "column 15: not a hex hash: 'zz'");
  b[14] = "0x12";
  CHECK(CriteoError(Join(b), BadRowReason::kBadHash) == "column 15: not a hex hash: '0x12'");
  b[14] = "80000000000000";  // 2^55
  CHECK(CriteoError(Join(b), BadRowReason::kBadHash) ==
        "column 15: hex hash wider than 55 bits: '80000000000000'");
  b[14] = "7fffffffffffff";  // 2^55 - 1 is fine
  b[39] = "a\x01";
  CHECK(CriteoError(Join(b), BadRowReason::kBadHash) == "column 40: not a hex hash: 'a\\x01'");
  b[39] = std::string(50, 'q');
  CHECK(CriteoError(Join(b), BadRowReason::kBadHash) ==
        absl::StrCat("column 40: not a hex hash: '", std::string(40, 'q'), "...'"));
}

TEST_CASE("A bad row leaves the rows before it as they were") {
  CtrBatch batch;
  batch.dense_dim = 13;
  BadRow bad;
  std::vector<std::string> c = CriteoColumns();
  REQUIRE(ParseCriteoLine(Join(c), CriteoLayout{}, &batch, &bad));
  c[39] = "g";  // fails after the dense features and 25 keys were appended
  CHECK(!ParseCriteoLine(Join(c), CriteoLayout{}, &batch, &bad));
  CHECK(batch.rows() == 1);
  CHECK(batch.dense.size() == 13);
  CHECK(batch.keys.size() == 26);
  CHECK(batch.values.size() == 26);
  CHECK(batch.row_offsets.size() == 2);
}

TEST_CASE("A libsvm line parses to label, keys and values") {
  CtrBatch batch;
  BadRow bad;
  REQUIRE(ParseLibsvmLine("+1 3:0.5  7:1e-3\t18446744073709551615:-2\r", &batch, &bad));
  REQUIRE(ParseLibsvmLine("-1", &batch, &bad));
  REQUIRE(ParseLibsvmLine("0 1:1 ", &batch, &bad));
  REQUIRE(ParseLibsvmLine(" 1 5:2", &batch, &bad));
  CHECK(batch.labels == std::vector<float>{1, 0, 0, 1});
  CHECK(batch.keys == std::vector<uint64_t>{3, 7, 18446744073709551615u, 1, 5});
  CHECK(batch.values == std::vector<float>{0.5f, 1e-3f, -2.0f, 1.0f, 2.0f});
  CHECK(batch.row_offsets == std::vector<int64_t>{0, 3, 3, 4, 5});
  CHECK(batch.dense.empty());
}

TEST_CASE("Every bad libsvm row names its column and reason") {
  CHECK(LibsvmError("", BadRowReason::kEmptyLine) == "column 1: empty line");
  CHECK(LibsvmError(" \t", BadRowReason::kEmptyLine) == "column 1: empty line");
  CHECK(LibsvmError("2 1:1", BadRowReason::kBadLabel) ==
        "column 1: label must be 0, 1, -1 or +1: '2'");
  CHECK(LibsvmError("1:1 2:2", BadRowReason::kBadLabel) ==
        "column 1: label must be 0, 1, -1 or +1: '1:1'");
  CHECK(LibsvmError("1 1:1 7", BadRowReason::kBadFeature) == "column 3: not idx:val: '7'");
  CHECK(LibsvmError("1 a:1", BadRowReason::kBadIndex) ==
        "column 2: not a feature index (a decimal u64): 'a:1'");
  CHECK(LibsvmError("1 :1", BadRowReason::kBadIndex) ==
        "column 2: not a feature index (a decimal u64): ':1'");
  CHECK(LibsvmError("1 18446744073709551616:1", BadRowReason::kBadIndex) ==
        "column 2: not a feature index (a decimal u64): '18446744073709551616:1'");
  CHECK(LibsvmError("1 -3:1", BadRowReason::kBadIndex) ==
        "column 2: not a feature index (a decimal u64): '-3:1'");
  CHECK(LibsvmError("1 3:", BadRowReason::kBadValue) == "column 2: not a finite number: '3:'");
  CHECK(LibsvmError("1 3:x", BadRowReason::kBadValue) == "column 2: not a finite number: '3:x'");
  CHECK(LibsvmError("1 3:1e99", BadRowReason::kBadValue) ==
        "column 2: not a finite number: '3:1e99'");
  CHECK(LibsvmError("1 3:nan", BadRowReason::kBadValue) ==
        "column 2: not a finite number: '3:nan'");
  CHECK(LibsvmError("1 3:1:2", BadRowReason::kBadValue) ==
        "column 2: not a finite number: '3:1:2'");
}

TEST_CASE("Bad row reasons have names") {
  CHECK(BadRowReasonName(BadRowReason::kEmptyLine) == "empty_line");
  CHECK(BadRowReasonName(BadRowReason::kBadHash) == "bad_hash");
  CHECK(BadRowReasonName(BadRowReason::kLineTooLong) == "line_too_long");
}

}  // namespace
}  // namespace psd
