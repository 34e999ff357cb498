// Prompt formats against docs/model.md, "Prompt formats" (BAGEL and OmniGen2); the template rendering is compared
// with transformers in test_parity.cpp.
#include <gtest/gtest.h>

#include "text/prompt.h"
#include "text/text_testing.h"

using namespace sgt::text;

namespace {
const Tokenizer& qwen() { return sgt::testing::qwen_tokenizer(); }
}  // namespace

TEST(Prompt, BagelWrapsEachTextInImStartImEnd) {
  const Tokenizer& t = qwen();
  const auto seg = bagel_text_segment(t, "A cat.");
  std::vector<TokenId> expect = {t.require_id("<|im_start|>")};
  for (TokenId id : t.encode("A cat.")) expect.push_back(id);
  expect.push_back(t.require_id("<|im_end|>"));
  EXPECT_EQ(seg, expect);
  const auto ids = BagelTokens::from(t);
  EXPECT_EQ(ids.vision_start, t.require_id("<|vision_start|>"));
  EXPECT_EQ(ids.vision_end, t.require_id("<|vision_end|>"));
  // <think> stays plain text to BAGEL, but the tokenizer file lists it as an added token, so it becomes one id.
  const auto think = bagel_text_segment(t, "<think>plan</think>");
  EXPECT_EQ(think[1], t.require_id("<think>"));
}

TEST(Prompt, OmniGen2PromptIsTheChatTemplateWithItsSystemPrompt) {
  const std::string sys(kOmniGen2SystemPrompt);
  EXPECT_EQ(omnigen2_prompt("a red cube"),
            "<|im_start|>system\n" + sys + "<|im_end|>\n<|im_start|>user\na red cube<|im_end|>\n");
  const ChatMessage user{"user", "hi", {}};
  EXPECT_EQ(qwen2vl_chat_prompt(std::span(&user, 1), {.add_generation_prompt = true}),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
            "<|im_start|>assistant\n");
  const ChatMessage with_image{"user", "", {{ChatPart::Kind::kImage, ""}, {ChatPart::Kind::kText, "What is it?"}}};
  EXPECT_EQ(qwen2vl_chat_prompt(std::span(&with_image, 1), {.add_vision_id = true}),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "Picture 1: <|vision_start|><|image_pad|><|vision_end|>What is it?<|im_end|>\n");
  // The template's markers are added tokens of the tokenizer: each encodes to one id.
  const auto ids = qwen().encode(omnigen2_prompt("x"));
  EXPECT_EQ(ids.front(), qwen().require_id("<|im_start|>"));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), qwen().require_id("<|im_end|>")), 2);
}
