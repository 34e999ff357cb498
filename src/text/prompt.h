#pragma once
// Prompt formats of the two models. Token ids always come from the loaded tokenizer, looked up by name.
//
// BAGEL (docs/model.md, "Prompt formats"): no chat template and no role names; every text chunk (system prompt,
// user or assistant turn, think text) is the segment [<|im_start|>] + encode(text) + [<|im_end|>].
//
// OmniGen2 (docs/model.md, "Prompt formats"; OmniGen2's OmniGen2Pipeline): the Qwen2-VL / Qwen2.5-VL chat template
// with roles and a system prompt, rendered here natively; tests compare it with transformers rendering the template
// text (tests/text/fixtures/qwen2_vl_chat_template.jinja).
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace sgt::text {

// The ids of BAGEL's marker tokens in a tokenizer.
struct BagelTokens {
  TokenId im_start, im_end, vision_start, vision_end;
  static BagelTokens from(const Tokenizer& tokenizer);  // sgt::Error when one is missing
};

// [<|im_start|>] + encode(text) + [<|im_end|>], appended to out (special-token strings inside text are matched,
// as BAGEL's tokenizer.encode does).
void append_bagel_text(const Tokenizer& tokenizer, const BagelTokens& ids, std::string_view text,
                       std::vector<TokenId>& out);
std::vector<TokenId> bagel_text_segment(const Tokenizer& tokenizer, std::string_view text);

struct ChatPart {
  enum class Kind { kText, kImage, kVideo };
  Kind kind = Kind::kText;
  std::string text;  // kText only
};

struct ChatMessage {
  std::string role;             // "system", "user", "assistant", ...
  std::string content;          // the template's string content, used when parts is empty
  std::vector<ChatPart> parts;  // the template's list content (text, image and video items)
};

struct ChatTemplateOptions {
  bool add_generation_prompt = false;  // end with "<|im_start|>assistant\n"
  bool add_vision_id = false;          // "Picture N: " / "Video N: " before each image / video
};

// The Qwen2-VL chat template: a default system turn ("You are a helpful assistant.") when the first message is not
// a system message, then "<|im_start|>{role}\n{content}<|im_end|>\n" per message; images and videos become
// "<|vision_start|><|image_pad|><|vision_end|>" / "<|vision_start|><|video_pad|><|vision_end|>".
std::string qwen2vl_chat_prompt(std::span<const ChatMessage> messages, const ChatTemplateOptions& options = {});

// OmniGen2's text-encoder prompt: [system, user: instruction] without generation prompt.
inline constexpr std::string_view kOmniGen2SystemPrompt =
    "You are a helpful assistant that generates high-quality images based on user instructions.";
// The system prompt OmniGen2 switches to when the instruction is dropped for CFG (the user turn is then empty).
inline constexpr std::string_view kOmniGen2DroppedSystemPrompt = "You are a helpful assistant that generates images.";
std::string omnigen2_prompt(std::string_view instruction, std::string_view system = kOmniGen2SystemPrompt);

}  // namespace sgt::text
