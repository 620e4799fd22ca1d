// UTF-8 (RFC 3629) checks for text that reaches protobuf string fields and messages.
#ifndef PSD_COMMON_UTF8_H_
#define PSD_COMMON_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace psd {

// The offset of the first byte of `text` that does not belong to a valid UTF-8 sequence (an
// overlong form, a surrogate and a code point past U+10FFFF are not valid), or npos.
size_t FirstInvalidUtf8(absl::string_view text);

// `text` with every byte that is not part of valid UTF-8 written as \xNN: always valid UTF-8.
std::string Utf8Escape(absl::string_view text);

}  // namespace psd

#endif  // PSD_COMMON_UTF8_H_
