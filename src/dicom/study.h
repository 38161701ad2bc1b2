// Study handling (issue 13, part 3): the instances of one study become the views of one
// report, frontal before lateral; an earlier study of the same patient is the prior.
// Pure functions over identities; reentrant.
#pragma once

#include <cstddef>
#include <vector>

#include "dicom/dicom_image.h"

namespace m4cxr {

// Indices of `views` in report order: PA, then AP, then lateral, then other views, then
// unknown ones; ties keep the given (file) order (a stable sort).
std::vector<size_t> order_views(const std::vector<DicomIdentity>& views);

// Throws Error(invalid_argument) naming both UIDs unless every instance has the same
// StudyInstanceUID (instances without one are refused: they cannot be grouped), and the
// same PatientID.
void check_one_study(const std::vector<DicomIdentity>& views, const char* what);

// Throws Error(invalid_argument) unless `prior` and `current` (each one study, see
// check_one_study) have the same PatientID, different StudyInstanceUIDs and the prior's
// StudyDate (+StudyTime) is earlier than the current's, when both have one.
void check_prior_study(const std::vector<DicomIdentity>& prior, const std::vector<DicomIdentity>& current);

}  // namespace m4cxr
