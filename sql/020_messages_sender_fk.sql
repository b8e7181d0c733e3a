-- sql/020_messages_sender_fk.sql: drop the foreign key of messages.sender_id.
-- Its check costs every message insert about an eighth of the batched
-- insert's time (EXPLAIN ANALYZE of chat-realtime's S_SENDB), and it adds
-- nothing: a message is only ever inserted into a conversation of its
-- sender (least/greatest of sender and recipient), whose own foreign keys
-- require both users to exist, and deleting a user deletes that
-- conversation and so, through messages.conversation_id ON DELETE CASCADE,
-- every message the user sent.
ALTER TABLE messages DROP CONSTRAINT messages_sender_id_fkey;
