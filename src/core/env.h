#pragma once
// Every runtime knob read from the environment, declared in one place.
#include <cstdint>
#include <optional>
#include <string>

namespace sgt::env {

std::optional<std::string> get(const char* name);
// Integer variable or fallback; a malformed value is an sgt::Error naming the variable.
int64_t get_int(const char* name, int64_t fallback);

// Distributed launch (torchrun / Slurm), as core/launch.h reads it (launch_env_or_single: never throws; the
// trainer checks the launch with launch_env()).
int rank();
int world_size();
int local_rank();

// SGT_LOG_LEVEL = debug | info | warn | error (default info). SGT_LOG_ALL_RANKS=1 logs on every rank.
std::string log_level();
bool log_all_ranks();
// SGT_PROGRESS = 0 disables progress bars, 1 forces them even when stderr is not a terminal.
std::optional<bool> progress();
// SGT_MAX_IMAGE_PIXELS: the largest width*height an image decode accepts (data/image.h), checked on the header
// before any allocation so that a tiny file claiming 65535x65535 cannot allocate 17 GB. Default PIL's
// Image.MAX_IMAGE_PIXELS (89,478,485); 0 means no limit. A negative value is an sgt::Error.
int64_t max_image_pixels();
// SGT_MAX_PROMPT_TOKENS: the most tokens one text given to the model may have (infer/generate.cpp; prompts,
// questions, instructions). Default 8192; 0 means no limit. A negative value is an sgt::Error.
int64_t max_prompt_tokens();

}  // namespace sgt::env
