#include "dicom/dataset_values.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include <gdcmByteValue.h>
#include <gdcmDataElement.h>
#include <gdcmItem.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTag.h>

#include "common/error.h"

namespace m4cxr::dicom_detail {

namespace {

constexpr size_t kMaxString = 1024;

const gdcm::ByteValue* byte_value(const gdcm::DataSet& ds, uint16_t g, uint16_t e) {
  const gdcm::Tag tag(g, e);
  if (!ds.FindDataElement(tag)) return nullptr;
  const gdcm::DataElement& de = ds.GetDataElement(tag);
  if (de.IsEmpty()) return nullptr;
  return de.GetByteValue();
}

}  // namespace

std::string get_string(const gdcm::DataSet& ds, uint16_t g, uint16_t e) {
  const gdcm::ByteValue* bv = byte_value(ds, g, e);
  if (bv == nullptr || bv->GetPointer() == nullptr) return {};
  size_t n = bv->GetLength();
  if (n > kMaxString) n = kMaxString;
  const char* p = bv->GetPointer();
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0')) --n;
  size_t b = 0;
  while (b < n && p[b] == ' ') ++b;
  std::string out;
  for (size_t i = b; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return out;
}

std::string first_value(const std::string& s) {
  const size_t k = s.find('\\');
  std::string v = k == std::string::npos ? s : s.substr(0, k);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  size_t b = 0;
  while (b < v.size() && v[b] == ' ') ++b;
  return v.substr(b);
}

std::optional<int> get_us(const gdcm::DataSet& ds, uint16_t g, uint16_t e, const char* name) {
  const gdcm::ByteValue* bv = byte_value(ds, g, e);
  if (bv == nullptr) return std::nullopt;
  if (bv->GetLength() != 2 || bv->GetPointer() == nullptr) {
    fail(Status::format_error, std::string("DICOM ") + name + " has " + std::to_string(bv->GetLength()) +
                                   " bytes, not the 2 of a US value");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bv->GetPointer());
  return static_cast<int>(p[0] | (p[1] << 8));
}

std::optional<double> get_number(const gdcm::DataSet& ds, uint16_t g, uint16_t e, const char* name) {
  const std::string v = first_value(get_string(ds, g, e));
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !std::isfinite(d)) {
    fail(Status::format_error, std::string("DICOM ") + name + " '" + v + "' is not a number");
  }
  return d;
}

std::string first_item_string(const gdcm::DataSet& ds, uint16_t sg, uint16_t se, uint16_t g, uint16_t e) {
  const gdcm::Tag tag(sg, se);
  if (!ds.FindDataElement(tag)) return {};
  const gdcm::DataElement& de = ds.GetDataElement(tag);
  if (de.IsEmpty()) return {};
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = de.GetValueAsSQ();
  if (!sq || sq->GetNumberOfItems() < 1) return {};
  return get_string(sq->GetItem(1).GetNestedDataSet(), g, e);
}

std::optional<std::vector<uint8_t>> first_item_bytes(const gdcm::DataSet& ds, uint16_t sg, uint16_t se, uint16_t g,
                                                     uint16_t e) {
  const gdcm::Tag tag(sg, se);
  if (!ds.FindDataElement(tag)) return std::nullopt;
  const gdcm::DataElement& de = ds.GetDataElement(tag);
  if (de.IsEmpty()) return std::nullopt;
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = de.GetValueAsSQ();
  if (!sq || sq->GetNumberOfItems() < 1) return std::nullopt;
  const gdcm::ByteValue* bv = byte_value(sq->GetItem(1).GetNestedDataSet(), g, e);
  if (bv == nullptr || bv->GetPointer() == nullptr) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(bv->GetPointer());
  return std::vector<uint8_t>(p, p + bv->GetLength());
}

}  // namespace m4cxr::dicom_detail
